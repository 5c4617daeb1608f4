/*
 * fork_inflight: a fork while messages are in flight. The child sends "m0" .. "m999"
 * as fast as it can (blocking send), then forks a grandchild while the parent may still
 * be reading them (the grandchild prints "grandchild: up" and exits 0), then sends
 * "done" and exits 0 once the grandchild has ended. The parent receives everything,
 * checks count and order, prints
 *   "parent: 1000 in order"
 * waits for the child to end and exits 0; on a mismatch it prints what it got and
 * exits 1. A child that fails sends "error: child: <what> failed: <error>" in place of
 * "done" (its own console may not be watched); the parent prints that line, exit 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT 1000

static void check(long r, const char *who, const char *what)
{
  if (r < 0) {
    printf("%s: %s failed: %s\n", who, what, pvm_strerror(r));
    exit(1);
  }
}

/* A child's failure: tell the parent (best effort), then exit 1. */
static void child_check(long r, uint32_t up, const char *what)
{
  if (r >= 0)
    return;
  char msg[96];
  int n = snprintf(msg, sizeof msg, "error: child: %s failed: %s", what, pvm_strerror(r));
  printf("%s\n", msg + 7);
  pvm_channel_try_send(up, msg, (size_t)n);
  exit(1);
}

static int child(uint32_t up)
{
  char buf[32];
  for (int i = 0; i < COUNT; i++) {
    int n = snprintf(buf, sizeof buf, "m%d", i);
    child_check(pvm_channel_send(up, buf, (size_t)n), up, "send");
  }
  uint32_t down;
  long id = pvm_fork(&down);
  child_check(id, up, "fork");
  if (id == 0) {
    printf("grandchild: up\n");
    return 0;
  }
  child_check(pvm_channel_send(up, "done", 4), up, "send");
  long r;
  while ((r = pvm_channel_recv(down, buf, sizeof buf)) >= 0)
    ;
  if (r != -PVM_EPIPE)
    check(r, "child", "recv");
  return 0;
}

int main(void)
{
  uint32_t ch;
  long id = pvm_fork(&ch);
  check(id, "parent", "fork");
  if (id == 0)
    return child(ch);
  char buf[128], want[32];
  int got = 0;
  for (;;) {
    long n = pvm_channel_recv(ch, buf, sizeof buf - 1);
    if (n == -PVM_EPIPE) {
      printf("parent: child ended after %d messages, without \"done\"\n", got);
      return 1;
    }
    check(n, "parent", "recv");
    buf[n] = 0;
    if (strcmp(buf, "done") == 0)
      break;
    if (strncmp(buf, "error: ", 7) == 0) {
      printf("%s\n", buf + 7);
      return 1;
    }
    snprintf(want, sizeof want, "m%d", got);
    if (strcmp(buf, want) != 0) {
      printf("parent: message %d is \"%s\", expected \"%s\"\n", got, buf, want);
      return 1;
    }
    got++;
  }
  if (got != COUNT) {
    printf("parent: %d messages before \"done\", expected %d\n", got, COUNT);
    return 1;
  }
  printf("parent: %d in order\n", got);
  long r;
  while ((r = pvm_channel_recv(ch, buf, sizeof buf)) >= 0)
    ;
  if (r != -PVM_EPIPE)
    check(r, "parent", "recv");
  return 0;
}
