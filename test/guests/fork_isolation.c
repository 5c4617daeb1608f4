/*
 * fork_isolation: the child gets a copy of memory, not a share of it. A static 1 MiB
 * array is filled with 'P' before the fork.
 *   child:  checks it is all 'P', fills it with 'C', sends "child wrote", waits for
 *           "parent wrote", checks its array is still all 'C';
 *           "child: isolation ok" (exit 0) or "child: isolation BROKEN" (exit 1)
 *   parent: on "child wrote" checks its array is still all 'P', fills it with 'Q',
 *           sends "parent wrote"; "parent: isolation ok" or "parent: isolation BROKEN";
 *           then waits for the child to end (EPIPE); exit 0 (ok) or 1 (broken)
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (1 << 20)
static unsigned char array[SIZE];

static int all(unsigned char c)
{
  unsigned char bad = 0;
  for (size_t i = 0; i < SIZE; i++)
    bad |= (unsigned char)(array[i] ^ c);
  return bad == 0;
}

static void check(long r, const char *who, const char *what)
{
  if (r < 0) {
    printf("%s: %s failed: %s\n", who, what, pvm_strerror(r));
    exit(1);
  }
}

/* Receive one message and require it to be `want`. */
static void expect(uint32_t slot, const char *who, const char *want)
{
  char buf[64];
  long n = pvm_channel_recv(slot, buf, sizeof buf - 1);
  check(n, who, "recv");
  buf[n] = 0;
  if (strcmp(buf, want) != 0) {
    printf("%s: expected \"%s\", got \"%s\"\n", who, want, buf);
    exit(1);
  }
}

int main(void)
{
  memset(array, 'P', SIZE);
  uint32_t ch;
  long id = pvm_fork(&ch);
  check(id, "parent", "fork");
  if (id == 0) {
    int ok = all('P');
    memset(array, 'C', SIZE);
    check(pvm_channel_send(ch, "child wrote", 11), "child", "send");
    expect(ch, "child", "parent wrote");
    ok = ok && all('C');
    printf("child: isolation %s\n", ok ? "ok" : "BROKEN");
    return ok ? 0 : 1;
  }
  expect(ch, "parent", "child wrote");
  int ok = all('P');
  memset(array, 'Q', SIZE);
  check(pvm_channel_send(ch, "parent wrote", 12), "parent", "send");
  printf("parent: isolation %s\n", ok ? "ok" : "BROKEN");
  char buf[64];
  long n;
  while ((n = pvm_channel_recv(ch, buf, sizeof buf)) >= 0)
    ;
  if (n != -PVM_EPIPE)
    check(n, "parent", "recv");
  return ok ? 0 : 1;
}
