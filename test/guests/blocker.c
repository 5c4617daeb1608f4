/*
 * blocker: blocks in one call until its counterpart ends (or the host acts), then prints
 * exactly what the call returned and exits 0. For test/blocking.test.ts, which watches
 * Pvm.activity to know the call really sleeps before it ends the counterpart. Modes
 * (argv[1]):
 *   orders         accept a channel from the host and obey one order received on it
 *   recv-child     receive from its child, which obeys orders
 *   recv-parent    the child receives from its parent, which obeys orders
 *   send-child     fill the ring to its child, which obeys orders and never reads, then
 *                  send once more
 *   waitpid-child  pvm_waitpid for its child by id; the child obeys orders
 *   waitpid-any    pvm_waitpid for any child; the child obeys orders
 *   wait           pvm_wait on the channels to its two children, which obey orders
 *   send-host      accept a channel from the host, fill its ring (the host never reads),
 *                  then send once more
 *   accept         pvm_channel_accept
 *   shm-accept     pvm_shm_accept
 *   flood          print lines without end: blocks once the host stops reading the
 *                  console (backpressure)
 * An order is one message: "exit <code>", "crash" (reads a null pointer) or
 * "exec <image> [<arg>...]" (pvm_exec, which waits for the host to send the image).
 * Lines printed: "recv: EPIPE", "send: EPIPE", "waitpid: <id> exit <code>",
 * "waitpid: <id> fault <code>", "waitpid: <id> killed <signal>", "waitpid: ECHILD",
 * "wait: woke, ended <ids>", "accept: slot <n> peer <id>", "shm-accept: slot <n>",
 * "exec: ENOENT"; any other error as its name, e.g. "recv: EINTR".
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOREVER (~0ULL)

static char message[1024];

/* "<what>: <error name>" for a failed call, "<what>: <n> bytes" for a message. */
static void print_result(const char *what, long r)
{
  if (r < 0)
    printf("%s: %s\n", what, pvm_strerror(r));
  else
    printf("%s: %ld bytes\n", what, r);
}

/* The counterpart's side: wait for the host's channel, take one order from it. Returns
 * the exit code of an "exit" order; does not return from a crash or a successful exec. */
static int obey_orders(void)
{
  long slot = pvm_channel_accept(0, FOREVER);
  if (slot < 0) {
    print_result("accept", slot);
    return 0;
  }
  long n = pvm_channel_recv((uint32_t)slot, message, sizeof message - 1);
  if (n < 0) {
    print_result("recv", n); /* the host ended the channel instead of giving an order */
    return 0;
  }
  message[n] = 0;
  if (strncmp(message, "exit ", 5) == 0)
    return atoi(message + 5);
  if (strcmp(message, "crash") == 0) {
    volatile int *null = 0;
    return *null; /* page 0 is unmapped: a #PF the monitor reports as a fault */
  }
  if (strncmp(message, "exec ", 5) == 0) {
    char *argv[9];
    int argc = 0;
    for (char *at = message + 5; *at && argc < 8;) { /* words split at single spaces */
      argv[argc++] = at;
      while (*at && *at != ' ')
        at++;
      if (*at)
        *at++ = 0;
    }
    argv[argc] = 0;
    long r = pvm_exec(argv[0], argv, 0);
    printf("exec: %s\n", pvm_strerror(r)); /* only reached when the exec failed */
    return 0;
  }
  printf("orders: unknown order '%s'\n", message);
  return 1;
}

static int fork_failed(long r)
{
  printf("fork: %s\n", pvm_strerror(r));
  return 1;
}

static int mode_recv_child(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0)
    return obey_orders();
  if (child < 0)
    return fork_failed(child);
  print_result("recv", pvm_channel_recv(ch, message, sizeof message));
  return 0;
}

static int mode_recv_parent(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child > 0)
    return obey_orders();
  if (child < 0)
    return fork_failed(child);
  print_result("recv", pvm_channel_recv(ch, message, sizeof message));
  return 0;
}

/* Fills the ring of channel `ch`, whose other end never reads, then sends once more:
 * that send sleeps until the other end goes. */
static int send_into_full_ring(uint32_t ch)
{
  long r;
  while ((r = pvm_channel_try_send(ch, message, sizeof message)) == 0)
    ;
  if (r != -PVM_EAGAIN) {
    print_result("try_send", r);
    return 1;
  }
  print_result("send", pvm_channel_send(ch, message, sizeof message));
  return 0;
}

static int mode_send_child(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0)
    return obey_orders();
  if (child < 0)
    return fork_failed(child);
  return send_into_full_ring(ch);
}

static int mode_send_host(void)
{
  long slot = pvm_channel_accept(0, FOREVER);
  if (slot < 0) {
    print_result("accept", slot);
    return 0;
  }
  return send_into_full_ring((uint32_t)slot);
}

__attribute__((noreturn)) static int mode_flood(void)
{
  for (unsigned long line = 0;; line++)
    printf("flood line %lu: the host is not reading this console\n", line);
}

static void print_waitpid(long r, const struct pvm_child_status *st)
{
  static const char *const kinds[] = {"exit", "fault", "killed"};
  if (r <= 0)
    print_result("waitpid", r);
  else
    printf("waitpid: %ld %s %d\n", r, st->kind < 3 ? kinds[st->kind] : "?", st->code);
}

static int mode_waitpid(int any)
{
  long child = pvm_fork(0);
  if (child == 0)
    return obey_orders();
  if (child < 0)
    return fork_failed(child);
  struct pvm_child_status st = {99, 99};
  long r = pvm_waitpid(any ? 0 : (uint64_t)child, &st, FOREVER);
  print_waitpid(r, &st);
  return 0;
}

static int mode_wait(void)
{
  uint32_t slots[2];
  long ids[2];
  for (int i = 0; i < 2; i++) {
    ids[i] = pvm_fork(&slots[i]);
    if (ids[i] == 0)
      return obey_orders();
    if (ids[i] < 0)
      return fork_failed(ids[i]);
  }
  long r;
  /* 0 is a wake-up with no doorbell rung (e.g. for the host): look again, as documented. */
  while ((r = pvm_wait(slots, 2, FOREVER)) == 0)
    ;
  if (r < 0) {
    print_result("wait", r);
    return 0;
  }
  printf("wait: woke, ended");
  for (int i = 0; i < 2; i++) {
    if (pvm_channel_try_recv(slots[i], message, sizeof message) == -PVM_EPIPE)
      printf(" %ld", ids[i]);
  }
  printf("\n");
  return 0;
}

static int mode_accept(void)
{
  uint64_t peer = 99;
  long slot = pvm_channel_accept(&peer, FOREVER);
  if (slot < 0)
    print_result("accept", slot);
  else
    printf("accept: slot %ld peer %llu\n", slot, (unsigned long long)peer);
  return 0;
}

static int mode_shm_accept(void)
{
  long slot = pvm_shm_accept(FOREVER);
  if (slot < 0)
    print_result("shm-accept", slot);
  else
    printf("shm-accept: slot %ld\n", slot);
  return 0;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  memset(message, 'm', sizeof message);
  if (!strcmp(mode, "orders")) return obey_orders();
  if (!strcmp(mode, "recv-child")) return mode_recv_child();
  if (!strcmp(mode, "recv-parent")) return mode_recv_parent();
  if (!strcmp(mode, "send-child")) return mode_send_child();
  if (!strcmp(mode, "send-host")) return mode_send_host();
  if (!strcmp(mode, "flood")) return mode_flood();
  if (!strcmp(mode, "waitpid-child")) return mode_waitpid(0);
  if (!strcmp(mode, "waitpid-any")) return mode_waitpid(1);
  if (!strcmp(mode, "wait")) return mode_wait();
  if (!strcmp(mode, "accept")) return mode_accept();
  if (!strcmp(mode, "shm-accept")) return mode_shm_accept();
  printf("usage: blocker orders|recv-child|recv-parent|send-child|send-host|waitpid-child|waitpid-any|wait|accept|shm-accept|flood\n");
  return 2;
}
