/*
 * fork_grand: three generations. The parent forks a child, the child forks a
 * grandchild. The grandchild sends "grandchild <id>" to the child, which forwards
 * "via child: <msg>" to the parent, which prints
 *   "parent got: via child: grandchild <id>"
 * Shutdown runs top-down: the parent sends "bye" to the child, the child passes it to
 * the grandchild, which exits 0; the child exits 0 once the grandchild has ended, the
 * parent once the child has. Errors print "<who>: <what> failed: <error>" and exit 1;
 * the child also sends it to the parent as "error: child: ..." (its own console may not
 * be watched), which the parent prints (without "error: ") before exiting 1.
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

/* Receive one message as a string; -PVM_EPIPE when the channel ended. */
static long recv_str(uint32_t slot, const char *who, char *buf, size_t cap)
{
  long n = pvm_channel_recv(slot, buf, cap - 1);
  if (n == -PVM_EPIPE)
    return n;
  check(n, who, "recv");
  buf[n] = 0;
  return n;
}

/* Receive until the other end has ended. */
static void drain(uint32_t slot, const char *who)
{
  char buf[128];
  while (recv_str(slot, who, buf, sizeof buf) >= 0)
    ;
}

static int grandchild(uint32_t up)
{
  char buf[128];
  snprintf(buf, sizeof buf, "grandchild %llu", (unsigned long long)pvm_id());
  send_str(up, "grandchild", buf);
  while (recv_str(up, "grandchild", buf, sizeof buf) >= 0 && strcmp(buf, "bye") != 0)
    ;
  return 0;
}

static int child(uint32_t up)
{
  uint32_t down;
  long id = pvm_fork(&down);
  if (id < 0) {
    char err[96];
    int n = snprintf(err, sizeof err, "error: child: fork failed: %s", pvm_strerror(id));
    printf("%s\n", err + 7);
    pvm_channel_send(up, err, (size_t)n);
    return 1;
  }
  if (id == 0)
    return grandchild(down);
  char msg[128], fwd[160];
  if (recv_str(down, "child", msg, sizeof msg) < 0) {
    static const char err[] = "error: child: grandchild ended without a message";
    printf("%s\n", err + 7);
    pvm_channel_send(up, err, sizeof err - 1);
    return 1;
  }
  snprintf(fwd, sizeof fwd, "via child: %s", msg);
  send_str(up, "child", fwd);
  while (recv_str(up, "child", msg, sizeof msg) >= 0 && strcmp(msg, "bye") != 0)
    ;
  send_str(down, "child", "bye");
  drain(down, "child");
  return 0;
}

int main(void)
{
  uint32_t ch;
  long id = pvm_fork(&ch);
  check(id, "parent", "fork");
  if (id == 0)
    return child(ch);
  char msg[160];
  if (recv_str(ch, "parent", msg, sizeof msg) < 0) {
    printf("parent: child ended without a message\n");
    return 1;
  }
  if (strncmp(msg, "error: ", 7) == 0) {
    printf("%s\n", msg + 7);
    return 1;
  }
  printf("parent got: %s\n", msg);
  send_str(ch, "parent", "bye");
  drain(ch, "parent");
  return 0;
}
