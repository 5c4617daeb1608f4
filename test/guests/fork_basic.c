/*
 * fork_basic: one fork and a message each way over the parent-child channel.
 *   child:  "child: id=<id> parent=<parent id> fork_channel=<slot> slot=<slot>"
 *           sends "hello from child", receives one message,
 *           "child got: <msg>", exit 7
 *   parent: "parent: child=<child id> slot=<slot>"
 *           "parent got: <msg>", sends "hello from parent", receives until the child
 *           has exited (EPIPE), "parent: child closed", exit 0
 * Errors print "<who>: <what> failed: <error>" and exit 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(long r, const char *who, const char *what)
{
  if (r < 0) {
    printf("%s: %s failed: %s\n", who, what, pvm_strerror(r));
    exit(1);
  }
}

static void send_str(uint32_t slot, const char *who, const char *s)
{
  check(pvm_channel_send(slot, s, strlen(s)), who, "send");
}

int main(void)
{
  static char buf[256];
  uint32_t ch = PVM_CHANNEL_NONE;
  long id = pvm_fork(&ch);
  check(id, "parent", "fork");
  if (id == 0) {
    printf("child: id=%llu parent=%llu fork_channel=%u slot=%u\n", (unsigned long long)pvm_id(),
           (unsigned long long)pvm_parent_id(), pvm_fork_channel(), ch);
    send_str(ch, "child", "hello from child");
    long n = pvm_channel_recv(ch, buf, sizeof buf - 1);
    check(n, "child", "recv");
    buf[n] = 0;
    printf("child got: %s\n", buf);
    return 7;
  }
  printf("parent: child=%ld slot=%u\n", id, ch);
  long n = pvm_channel_recv(ch, buf, sizeof buf - 1);
  check(n, "parent", "recv");
  buf[n] = 0;
  printf("parent got: %s\n", buf);
  send_str(ch, "parent", "hello from parent");
  for (;;) {
    n = pvm_channel_recv(ch, buf, sizeof buf - 1);
    if (n == -PVM_EPIPE)
      break;
    check(n, "parent", "recv");
    buf[n] = 0;
    printf("parent: unexpected message: %s\n", buf);
  }
  printf("parent: child closed\n");
  return 0;
}
