/*
 * fork_many [N]: forks N children (default 64), one after another, each with its own
 * channel slot. Each child sends its id (decimal) to the parent, waits for "bye", and
 * exits with code id % 200. The parent collects every answer (pvm_channel_wait over
 * all slots), checks each id against what pvm_fork returned for that slot, then
 *   "parent: <N> children answered"
 * sends "bye" to all, waits until every child has ended (EPIPE on each slot), then
 *   "parent: all closed"
 * and exits 0. A failed fork prints "fork <i> failed: <error>" and exits 2; any other
 * problem prints a line saying so and exits 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One more than a pVM may have, so the limit can be tried: that fork gets EAGAIN. */
#define MAX_CHILDREN ((int)PVM_CHANNEL_SLOTS + 1)

static long ids[MAX_CHILDREN];
static uint32_t slots[MAX_CHILDREN];
static uint32_t waiting[MAX_CHILDREN]; /* slots that have not answered yet */
static int waiting_child[MAX_CHILDREN]; /* the child index of each */

static void check(long r, const char *who, const char *what)
{
  if (r < 0) {
    printf("%s: %s failed: %s\n", who, what, pvm_strerror(r));
    exit(1);
  }
}

static int child(uint32_t ch)
{
  char buf[32];
  unsigned long long id = pvm_id();
  int n = snprintf(buf, sizeof buf, "%llu", id);
  check(pvm_channel_send(ch, buf, (size_t)n), "child", "send");
  for (;;) {
    long r = pvm_channel_recv(ch, buf, sizeof buf - 1);
    check(r, "child", "recv");
    buf[r] = 0;
    if (strcmp(buf, "bye") == 0)
      return (int)(id % 200);
  }
}

int main(int argc, char **argv)
{
  int n = argc > 1 ? atoi(argv[1]) : 64;
  if (n < 0 || n > MAX_CHILDREN) {
    printf("parent: N must be 0..%d\n", MAX_CHILDREN);
    return 1;
  }
  for (int i = 0; i < n; i++) {
    uint32_t ch;
    long id = pvm_fork(&ch);
    if (id < 0) {
      printf("fork %d failed: %s\n", i, pvm_strerror(id));
      return 2;
    }
    if (id == 0)
      return child(ch);
    ids[i] = id;
    slots[i] = ch;
    waiting[i] = ch;
    waiting_child[i] = i;
  }

  uint32_t left = (uint32_t)n;
  while (left > 0) {
    int k = pvm_channel_wait(waiting, left, ~0ULL);
    check(k, "parent", "wait");
    int i = waiting_child[k];
    char buf[32];
    long r = pvm_channel_try_recv(slots[i], buf, sizeof buf - 1);
    if (r == -PVM_EAGAIN)
      continue;
    if (r == -PVM_EPIPE) {
      printf("parent: child %d (id %ld) ended without answering\n", i, ids[i]);
      return 1;
    }
    check(r, "parent", "recv");
    buf[r] = 0;
    long got = strtol(buf, 0, 10);
    if (got != ids[i]) {
      printf("parent: child %d on slot %u said %s, expected %ld\n", i, slots[i], buf, ids[i]);
      return 1;
    }
    left--;
    waiting[k] = waiting[left];
    waiting_child[k] = waiting_child[left];
  }
  printf("parent: %d children answered\n", n);

  for (int i = 0; i < n; i++)
    check(pvm_channel_send(slots[i], "bye", 3), "parent", "send");
  for (int i = 0; i < n; i++) {
    char buf[32];
    long r;
    while ((r = pvm_channel_recv(slots[i], buf, sizeof buf)) >= 0)
      ;
    if (r != -PVM_EPIPE)
      check(r, "parent", "recv");
  }
  printf("parent: all closed\n");
  return 0;
}
