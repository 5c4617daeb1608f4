/*
 * stress: the guest halves of the scenarios of scripts/stress.ts (`npm run stress`), one
 * mode per argv[1]. Each mode prints lines the harness checks; a broken expectation
 * prints "FAILED <file>:<line>: <what>" and exits 1.
 *
 *   spin                 "spin: ready", then computes (no exit) until a pVM signal is
 *                        posted: "spin: signal <bits>", exit 4. TERM/KILL end it.
 *   block                forks a child (with a channel) that waits in a receive; waits
 *                        for it in WAITPID: "block: ready <child>", then
 *                        "block: waited <child> kind <k> code <c>", exit 0; a signal
 *                        without a handler: "block: EINTR", exit 3. The child: EINTR ->
 *                        "block child: EINTR", exit 3; end of channel -> exit 0.
 *   reap <n> <us> <seed> n children, child i sleeps 0..us µs and exits 10+i; the parent
 *                        (USR1 handled: counted) reaps them in any order:
 *                        "reaped <id> kind <k> code <c>" each, then "reap ok usr1=<n>".
 *   pingpong <n> <max> <window> <crash_after> <seed>
 *                        a child with a channel echoes; the parent sends n messages of
 *                        1..max bytes, at most window ahead, and checks every echo. The
 *                        child faults before its receive number crash_after (-1: never).
 *                        The parent ends with "pingpong: peer gone after <k>" (EPIPE) or
 *                        "pingpong ok" (it closed its end), and in both cases
 *                        "pingpong: child <id> kind <k> code <c>" (its WAITPID); exit 0.
 *   fanout <n> <chanfork> n children (with fork channels if chanfork is 1) each accept a
 *                        channel the host makes to the parent (Host.connect on the fork
 *                        event), get "hi <id>", answer "ack <id>"; the parent accepts n
 *                        channels, each from a distinct child, never a fork channel:
 *                        "fanout: forked <n>", then "fanout ok".
 *   execchain <n> <carry> exec itself n times; each image first reaps the child the one
 *                        before left (exit code carry; -1: none), then forks a child that
 *                        exits n & 0x7f and execs "stress execchain n-1 <that>" without
 *                        waiting. Unhandled signals are taken and counted. The last:
 *                        "execchain done", exit 0.
 *   handlers             USR1 and USR2 handlers count; "handlers: ready"; accepts a
 *                        channel from the host and answers each message with
 *                        "usr1=<a> usr2=<b>" until the host closes it: "handlers ok", 0.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      printf("FAILED %s:%d: ", __FILE__, __LINE__);                                    \
      printf(__VA_ARGS__);                                                               \
      printf("\n");                                                                      \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

static unsigned char msg[PVM_CHANNEL_MAX_MESSAGE];
static unsigned char expect[PVM_CHANNEL_MAX_MESSAGE];
static char line[256];

static uint64_t mix(uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/* Sleeps `ns` (WAIT with no channels returns early for the host: sleep on). */
static void sleep_ns(uint64_t ns)
{
  uint64_t until = pvm_time_ns() + ns;
  for (uint64_t now = pvm_time_ns(); now < until; now = pvm_time_ns())
    pvm_wait(0, 0, until - now);
}

static int mode_spin(void)
{
  printf("spin: ready\n");
  pvm_console_flush();
  volatile uint64_t x = 1;
  for (;;) {
    for (int i = 0; i < 100000; i++)
      x = x * 6364136223846793005ULL + 1;
    uint64_t sigs = pvm_pending_signals(); /* posted by the monitor at an exit (a kick) */
    if (sigs) {
      printf("spin: signal %llu\n", (unsigned long long)sigs);
      return 4;
    }
  }
}

static int mode_block(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0) {
    long n = pvm_channel_recv(ch, msg, sizeof msg);
    if (n == -PVM_EINTR) {
      printf("block child: EINTR\n");
      return 3;
    }
    CHECK(n == -PVM_EPIPE, "child: recv gave %ld", n);
    return 0;
  }
  CHECK(child > 0, "fork: %s", pvm_strerror(child));
  printf("block: ready %ld\n", child);
  pvm_console_flush();
  struct pvm_child_status st;
  long r = pvm_waitpid((uint64_t)child, &st, ~0ULL);
  if (r == -PVM_EINTR) {
    printf("block: EINTR\n");
    return 3;
  }
  CHECK(r == child, "waitpid gave %ld", r);
  printf("block: waited %ld kind %u code %d\n", child, st.kind, st.code);
  return 0;
}

static volatile int usr1_count, usr2_count;
static void on_usr1(int sig) { (void)sig; usr1_count++; }
static void on_usr2(int sig) { (void)sig; usr2_count++; }

#define MAX_REAP 32

static int mode_reap(int n, uint64_t max_us, uint64_t seed)
{
  CHECK(n > 0 && n <= MAX_REAP, "n %d", n);
  pvm_signal(PVM_SIGUSR1, on_usr1);
  long ids[MAX_REAP];
  for (int i = 0; i < n; i++) {
    ids[i] = pvm_fork(0);
    if (ids[i] == 0) {
      sleep_ns(max_us ? mix(seed + (uint64_t)i) % (max_us + 1) * 1000 : 0);
      return 10 + i;
    }
    CHECK(ids[i] > 0, "fork %d: %s", i, pvm_strerror(ids[i]));
  }
  printf("reap: forked %d\n", n);
  pvm_console_flush();
  int seen = 0;
  for (int k = 0; k < n; k++) {
    struct pvm_child_status st;
    long id = pvm_waitpid(0, &st, ~0ULL); /* USR1 is handled: waitpid goes on */
    CHECK(id > 0, "waitpid %d: %s", k, pvm_strerror(id));
    int i = 0;
    while (i < n && ids[i] != id)
      i++;
    CHECK(i < n && !(seen >> i & 1), "waitpid gave %ld", id);
    seen |= 1 << i;
    printf("reaped %ld kind %u code %d\n", id, st.kind, st.code);
  }
  long r = pvm_waitpid(0, 0, ~0ULL);
  CHECK(r == -PVM_ECHILD, "a child too many: %ld", r);
  printf("reap ok usr1=%d\n", usr1_count);
  return 0;
}

/* Message k of a pingpong: its size and bytes. */
static uint32_t pingpong_message(long k, uint32_t max, uint64_t seed, unsigned char *out)
{
  uint32_t size = (uint32_t)(mix(seed ^ (uint64_t)k) % max) + 1;
  for (uint32_t j = 0; j < size; j++)
    out[j] = (unsigned char)(k * 31 + j * 7);
  return size;
}

static int mode_pingpong(long n, uint32_t max, long window, long crash_after, uint64_t seed)
{
  CHECK(max >= 1 && max <= PVM_CHANNEL_MAX_MESSAGE && window >= 1, "arguments");
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0) {
    for (long k = 0;; k++) {
      if (k == crash_after) {
        volatile int *null = 0;
        return *null;
      }
      long got = pvm_channel_recv(ch, msg, sizeof msg);
      if (got == -PVM_EPIPE)
        return 0;
      CHECK(got >= 0, "child: recv: %s", pvm_strerror(got));
      long r = pvm_channel_send(ch, msg, (size_t)got);
      if (r == -PVM_EPIPE)
        return 0;
      CHECK(r == 0, "child: send: %s", pvm_strerror(r));
    }
  }
  CHECK(child > 0, "fork: %s", pvm_strerror(child));
  long sent = 0, got = 0;
  int gone = 0;
  while (got < n && !gone) {
    while (sent < n && sent - got < window) {
      uint32_t size = pingpong_message(sent, max, seed, msg);
      long r = pvm_channel_send(ch, msg, size);
      if (r == -PVM_EPIPE) {
        gone = 1;
        break;
      }
      CHECK(r == 0, "send %ld: %s", sent, pvm_strerror(r));
      sent++;
    }
    if (gone)
      break;
    long len = pvm_channel_recv(ch, msg, sizeof msg);
    if (len == -PVM_EPIPE) {
      gone = 1;
      break;
    }
    CHECK(len >= 0, "recv %ld: %s", got, pvm_strerror(len));
    uint32_t size = pingpong_message(got, max, seed, expect);
    CHECK((uint32_t)len == size && memcmp(msg, expect, size) == 0, "echo %ld: %ld bytes, expected %u", got, len, size);
    got++;
  }
  if (gone)
    printf("pingpong: peer gone after %ld\n", got);
  else
    CHECK(pvm_channel_close(ch) == 0, "close");
  struct pvm_child_status st;
  long r = pvm_waitpid((uint64_t)child, &st, ~0ULL);
  CHECK(r == child, "waitpid: %s", pvm_strerror(r));
  printf("pingpong: child %ld kind %u code %d\n", child, st.kind, st.code);
  if (!gone)
    printf("pingpong ok\n");
  return 0;
}

#define MAX_FANOUT 16

static long hear(uint32_t slot)
{
  long n = pvm_channel_recv(slot, line, sizeof line - 1);
  if (n >= 0)
    line[n] = 0;
  return n;
}

static void say(uint32_t slot, const char *text)
{
  long r = pvm_channel_send(slot, text, strlen(text));
  CHECK(r == 0, "send on slot %u: %s", slot, pvm_strerror(r));
}

static int mode_fanout(int n, int chanfork)
{
  CHECK(n > 0 && n <= MAX_FANOUT, "n %d", n);
  long ids[MAX_FANOUT];
  uint32_t fork_ch[MAX_FANOUT];
  uint64_t parent = pvm_id();
  for (int i = 0; i < n; i++) {
    fork_ch[i] = PVM_CHANNEL_NONE;
    ids[i] = pvm_fork(chanfork ? &fork_ch[i] : 0);
    if (ids[i] == 0) {
      char text[64];
      uint64_t me = pvm_id();
      if (chanfork) {
        snprintf(text, sizeof text, "fork-ch %llu", (unsigned long long)me);
        say(fork_ch[i], text);
      }
      uint64_t peer = 0;
      long slot = pvm_channel_accept(&peer, ~0ULL);
      CHECK(slot >= 0, "child: accept: %s", pvm_strerror(slot));
      CHECK(peer == parent, "child: accepted a channel to %llu", (unsigned long long)peer);
      CHECK(!chanfork || (uint32_t)slot != fork_ch[i], "child: accepted its fork channel");
      CHECK(hear((uint32_t)slot) > 0, "child: recv");
      snprintf(text, sizeof text, "hi %llu", (unsigned long long)me);
      CHECK(strcmp(line, text) == 0, "child heard '%s'", line);
      snprintf(text, sizeof text, "ack %llu", (unsigned long long)me);
      say((uint32_t)slot, text);
      return 0;
    }
    CHECK(ids[i] > 0, "fork %d: %s", i, pvm_strerror(ids[i]));
  }
  printf("fanout: forked %d\n", n);
  pvm_console_flush();
  uint32_t slots[MAX_FANOUT];
  uint64_t peers[MAX_FANOUT];
  int taken = 0;
  for (int k = 0; k < n; k++) {
    uint64_t peer = 0;
    long slot = pvm_channel_accept(&peer, ~0ULL);
    CHECK(slot >= 0, "accept %d: %s", k, pvm_strerror(slot));
    int i = 0;
    while (i < n && (uint64_t)ids[i] != peer)
      i++;
    CHECK(i < n, "accepted a channel to %llu, not a child", (unsigned long long)peer);
    CHECK(!(taken >> i & 1), "a second channel to child %llu", (unsigned long long)peer);
    taken |= 1 << i;
    for (int j = 0; j < n; j++)
      CHECK(fork_ch[j] != (uint32_t)slot, "accepted the fork channel of child %ld", ids[j]);
    slots[k] = (uint32_t)slot;
    peers[k] = peer;
    char text[64];
    snprintf(text, sizeof text, "hi %llu", (unsigned long long)peer);
    say((uint32_t)slot, text);
  }
  for (int k = 0; k < n; k++) {
    CHECK(hear(slots[k]) > 0, "recv from %llu", (unsigned long long)peers[k]);
    char text[64];
    snprintf(text, sizeof text, "ack %llu", (unsigned long long)peers[k]);
    CHECK(strcmp(line, text) == 0, "heard '%s', expected '%s'", line, text);
    CHECK(pvm_channel_close(slots[k]) == 0, "close");
  }
  for (int i = 0; chanfork && i < n; i++) {
    CHECK(hear(fork_ch[i]) > 0, "recv on the fork channel of %ld", ids[i]);
    char text[64];
    snprintf(text, sizeof text, "fork-ch %ld", ids[i]);
    CHECK(strcmp(line, text) == 0, "fork channel %u: '%s', expected '%s'", fork_ch[i], line, text);
    CHECK(pvm_channel_close(fork_ch[i]) == 0, "close");
  }
  for (int i = 0; i < n; i++) {
    struct pvm_child_status st;
    long r = pvm_waitpid((uint64_t)ids[i], &st, ~0ULL);
    CHECK(r == ids[i] && st.kind == PVM_WAIT_EXIT && st.code == 0, "waitpid %ld: %ld kind %u code %d", ids[i], r, st.kind, st.code);
  }
  printf("fanout ok\n");
  return 0;
}

static int mode_execchain(long n, long carry)
{
  int signals = 0;
  if (carry >= 0) {
    struct pvm_child_status st;
    long r;
    while ((r = pvm_waitpid(0, &st, ~0ULL)) == -PVM_EINTR)
      signals += pvm_signals() != 0;
    CHECK(r > 0 && st.kind == PVM_WAIT_EXIT && st.code == carry, "reaping the last image's child: %ld kind %u code %d", r,
          st.kind, st.code);
  }
  if (n <= 0) {
    printf("execchain done\n");
    return 0;
  }
  long child = pvm_fork(0);
  if (child == 0)
    return (int)(n & 0x7f);
  CHECK(child > 0, "fork: %s", pvm_strerror(child));
  char next[24], code[24];
  snprintf(next, sizeof next, "%ld", n - 1);
  snprintf(code, sizeof code, "%ld", n & 0x7f);
  char *argv[] = {"stress", "execchain", next, code, 0};
  long r = pvm_exec("stress", argv, 0);
  printf("execchain: exec failed: %s (signals %d)\n", pvm_strerror(r), signals);
  return 1;
}

static int mode_handlers(void)
{
  pvm_signal(PVM_SIGUSR1, on_usr1);
  pvm_signal(PVM_SIGUSR2, on_usr2);
  printf("handlers: ready\n");
  pvm_console_flush();
  long slot = pvm_channel_accept(0, ~0ULL);
  CHECK(slot >= 0, "accept: %s", pvm_strerror(slot));
  for (;;) {
    long n = hear((uint32_t)slot);
    if (n == -PVM_EPIPE)
      break;
    CHECK(n >= 0, "recv: %s", pvm_strerror(n));
    char text[64];
    snprintf(text, sizeof text, "usr1=%d usr2=%d", usr1_count, usr2_count);
    long r = pvm_channel_send((uint32_t)slot, text, strlen(text));
    if (r == -PVM_EPIPE)
      break;
    CHECK(r == 0, "send: %s", pvm_strerror(r));
  }
  printf("handlers ok\n");
  return 0;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
#define ARG(i) (argc > (i) ? strtol(argv[i], 0, 10) : 0)
  if (!strcmp(mode, "spin")) return mode_spin();
  if (!strcmp(mode, "block")) return mode_block();
  if (!strcmp(mode, "reap")) return mode_reap((int)ARG(2), (uint64_t)ARG(3), (uint64_t)ARG(4));
  if (!strcmp(mode, "pingpong")) return mode_pingpong(ARG(2), (uint32_t)ARG(3), ARG(4), ARG(5), (uint64_t)ARG(6));
  if (!strcmp(mode, "fanout")) return mode_fanout((int)ARG(2), (int)ARG(3));
  if (!strcmp(mode, "execchain")) return mode_execchain(ARG(2), argc > 3 ? ARG(3) : -1);
  if (!strcmp(mode, "handlers")) return mode_handlers();
  printf("usage: stress spin|block|reap|pingpong|fanout|execchain|handlers ...\n");
  return 2;
}
