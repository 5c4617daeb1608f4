/*
 * ipc_bench: guest side of the IPC benchmark (bench/ipc.ts; the native baseline is
 * bench/native/ipc-baseline.c, which prints the same JSON shapes). The pVM forks one
 * child (pvm_fork) and times batches of operations.
 *
 * The clock: a TIME hypercall (pvm_time_ns) is an exit, ~25 µs on kvm_pvm, which would
 * both add to every batch and, worse, stall the parent long enough that a spinning
 * child gives up and goes to sleep, changing what is measured. So batches are timed
 * with rdtsc (no exit, ~16 ns in a guest), and the TSC is calibrated against TIME over
 * the whole test (one TIME before the warm-up, one after the last batch). "...Ns"
 * arrays below are computed with that ratio; the JSON also carries it as
 * "tsc":{"ticks":T,"ns":N}.
 * The hypercalls of the family are used through their runtime wrappers: pvm_kill (KILL),
 * pvm_signals (the boot-info word, or SIGNALS), pvm_waitpid (WAITPID), pvm_shm_create (SHM_CREATE).
 *
 *   ipc_bench pipe|msg <bytes> <iters> <batches> [spin]
 *       round trips of <bytes> over the parent-child channel: the parent sends, the
 *       child echoes them back. pipe: as a byte stream (pvm_pipe_write/read, reading
 *       until all <bytes> are in); msg: as one message (pvm_channel_send/recv). spin
 *       sets pvm_channel_spin (both sides; -1 or absent: the runtime's default). Prints
 *       {"test":"pipe"|"msg","bytes":B,"iters":I,"spin":S,"tsc":{...},"batchNs":[...]}
 *       (ns per batch of I round trips)
 *   ipc_bench kill <iters> <batches>
 *       the parent KILLs the child with USR1; the child, blocked in pvm_channel_recv
 *       (spin 0: it sleeps in WAIT; no handler set), gets -PVM_EINTR, takes the signal
 *       with pvm_signals() (no exit: SIGNALS_IN_PAGE) and replies with 1 byte on the channel; the parent receives it
 *       (default spin). Prints
 *       {"test":"kill","iters":I,"batchNs":[...]}
 *   ipc_bench exitwait <touch MiB> <runs>
 *       after touching <touch MiB> of heap: per run, t0; FORK (the child EXITs at
 *       once); WAITPID for it; t1. Prints {"test":"exitwait","mib":M,"runNs":[...]}
 *   ipc_bench shm <iters> <batches>
 *       SHM_CREATE a page before the fork; then parent and child ping-pong on a u32
 *       in it, both spinning (pause) without any hypercall; the parent sets a second
 *       u32 to stop the child. Prints
 *       {"test":"shm","iters":I,"batchNs":[...]}
 *   ipc_bench throughput pipe|msg <bytes> <msgs> <batches> [spin]
 *       per batch the parent sends <msgs> writes (pipe) or messages (msg) of <bytes>;
 *       the child reads them all (pipe: in whatever pieces pvm_pipe_read returns, at
 *       most 64 KiB at a time) and answers 1 byte. Prints
 *       {"test":"throughput","api":A,"bytes":B,"msgs":N,"spin":S,"tsc":{...},"batchNs":[...]}
 *
 * Every test is preceded by an untimed warm-up (WARMUP_MS). The child ends when the
 * parent does (its channel reports EPIPE), or when told to stop (shm). Errors print
 * "ipc_bench: <who>: <what> failed: <error>" and exit 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_bench_common.h"

static unsigned char sbuf[PVM_CHANNEL_MAX_MESSAGE];
static unsigned char rbuf[PVM_CHANNEL_MAX_MESSAGE];
static uint64_t batch_ns[MAX_BATCHES]; /* TSC ticks until clock_end() converts them */

/* ---- the clock ------------------------------------------------------------------ */

static inline uint64_t ticks(void)
{
  uint32_t lo, hi;
  __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return (uint64_t)hi << 32 | lo;
}

static uint64_t cal_ticks0, cal_ns0, cal_ticks, cal_ns;

static void clock_start(void)
{
  cal_ns0 = pvm_time_ns();
  cal_ticks0 = ticks();
}

/* Ticks in `ms` milliseconds, roughly (from the interval since clock_start(), which
 * spans at least a fork, ~1 ms: a few % off, enough to size a warm-up). */
static uint64_t rough_ticks(uint64_t ms)
{
  uint64_t t = ticks() - cal_ticks0;
  uint64_t ns = pvm_time_ns() - cal_ns0;
  if (ns == 0)
    ns = 1;
  return (uint64_t)((double)t / (double)ns * 1e6 * (double)ms);
}

/* Calibrates the TSC over the test and converts batch_ns[0..n) from ticks to ns. */
static void clock_end(int n)
{
  cal_ticks = ticks() - cal_ticks0;
  cal_ns = pvm_time_ns() - cal_ns0;
  if (cal_ticks == 0 || cal_ns == 0) {
    printf("ipc_bench: parent: the TSC or the clock did not move\n");
    exit(1);
  }
  double ns_per_tick = (double)cal_ns / (double)cal_ticks;
  for (int i = 0; i < n; i++)
    batch_ns[i] = (uint64_t)((double)batch_ns[i] * ns_per_tick + 0.5);
}

/* Prints `"tsc":{"ticks":T,"ns":N},` (the calibration). */
static void print_clock(void)
{
  printf("\"tsc\":{\"ticks\":%llu,\"ns\":%llu},", (unsigned long long)cal_ticks,
         (unsigned long long)cal_ns);
}

static void check(long r, const char *who, const char *what)
{
  if (r < 0) {
    printf("ipc_bench: %s: %s failed: %s\n", who, what, pvm_strerror(r));
    exit(1);
  }
}

static void fail(const char *who, const char *what)
{
  printf("ipc_bench: %s: %s\n", who, what);
  exit(1);
}

/* Forks; in the child runs `child(slot)` and exits with its result. Returns the
 * child's id in the parent, the channel slot in *ch. */
static long fork_child(uint32_t *ch, int (*child)(uint32_t slot))
{
  long id = pvm_fork(ch);
  check(id, "parent", "fork");
  if (id == 0)
    pvm_exit(child(*ch));
  return id;
}

/* ---- the two ways to use a channel ---------------------------------------------
 * Messages (pvm_channel_send/recv: each recv returns one whole message) or a byte
 * stream (pvm_pipe_write/read: pipe-like, boundaries do not matter; the reader keeps
 * the rest of a message for its next read, so it copies once more). Set before the
 * fork, so the child uses the same.
 */
static int use_pipe;

/* Sends `len` bytes: 0 or -PVM_Exxx. */
static long xsend(uint32_t ch, const void *buf, size_t len)
{
  if (!use_pipe)
    return pvm_channel_send(ch, buf, len);
  long r = pvm_pipe_write(ch, buf, len);
  return r < 0 ? r : 0;
}

/* Receives a message (messages), or exactly `want` bytes (pipe; end of stream before
 * them is -PVM_EPIPE). Returns the length or -PVM_Exxx. */
static long xrecv(uint32_t ch, unsigned char *buf, size_t want)
{
  if (!use_pipe)
    return pvm_channel_recv(ch, buf, PVM_CHANNEL_MAX_MESSAGE);
  size_t got = 0;
  while (got < want) {
    long n = pvm_pipe_read(ch, buf + got, want - got);
    if (n == 0)
      return -PVM_EPIPE;
    if (n < 0)
      return n;
    got += (size_t)n;
  }
  return (long)got;
}

static const char *api_name(void) { return use_pipe ? "pipe" : "msg"; }

/* Sets use_pipe from "pipe" or "msg". */
static void set_api(const char *name)
{
  if (strcmp(name, "pipe") == 0)
    use_pipe = 1;
  else if (strcmp(name, "msg") == 0)
    use_pipe = 0;
  else
    fail("parent", "the API is pipe or msg");
}

/* ---- rtt: echo ----------------------------------------------------------------- */

static long rtt_bytes;

static int echo_child(uint32_t ch)
{
  for (;;) {
    long n = xrecv(ch, rbuf, (size_t)rtt_bytes);
    if (n == -PVM_EPIPE)
      return 0;
    check(n, "child", "recv");
    long r = xsend(ch, rbuf, (size_t)n);
    if (r == -PVM_EPIPE)
      return 0;
    check(r, "child", "send");
  }
}

static void round_trip(uint32_t ch)
{
  check(xsend(ch, sbuf, (size_t)rtt_bytes), "parent", "send");
  long n = xrecv(ch, rbuf, (size_t)rtt_bytes);
  check(n, "parent", "recv");
  if (n != rtt_bytes)
    fail("parent", "echo of the wrong length");
}

static int test_rtt(int argc, char **argv)
{
  set_api(argv[1]);
  rtt_bytes = arg(argc, argv, 2, 64);
  long iters = arg(argc, argv, 3, 500);
  int batches = clamp_batches(arg(argc, argv, 4, 20));
  long spin = arg(argc, argv, 5, -1);
  if (rtt_bytes < 1 || rtt_bytes > PVM_CHANNEL_MAX_MESSAGE || iters < 1)
    fail("parent", "bad arguments");
  if (spin >= 0)
    pvm_channel_spin = (unsigned)spin; /* before the fork: the child inherits it */
  for (long i = 0; i < rtt_bytes; i++)
    sbuf[i] = (unsigned char)i;
  clock_start();
  uint32_t ch;
  fork_child(&ch, echo_child);
  round_trip(ch); /* the child is up */
  uint64_t warm = rough_ticks(WARMUP_MS);
  for (uint64_t w0 = ticks(); ticks() - w0 < warm;)
    round_trip(ch);
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = ticks();
    for (long i = 0; i < iters; i++)
      round_trip(ch);
    batch_ns[b] = ticks() - t0;
  }
  clock_end(batches);
  printf("{\"test\":\"%s\",\"bytes\":%ld,\"iters\":%ld,\"spin\":%u,", api_name(), rtt_bytes, iters,
         pvm_channel_spin);
  print_clock();
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

/* ---- kill: signal -> reply ----------------------------------------------------- */

static int signal_child(uint32_t ch)
{
  pvm_channel_spin = 0; /* block in WAIT at once, as a process blocked in sigwaitinfo */
  check(pvm_channel_send(ch, "r", 1), "child", "send ready");
  for (;;) {
    long n = pvm_channel_recv(ch, rbuf, sizeof rbuf);
    if (n == -PVM_EPIPE)
      return 0;
    if (n != -PVM_EINTR) {
      check(n, "child", "recv");
      continue; /* the parent sends nothing else; ignore it if it does */
    }
    uint64_t sigs = pvm_signals(); /* from the boot-info page: no exit */
    if (sigs & (1ULL << PVM_SIGUSR1)) {
      long r = pvm_channel_send(ch, "s", 1);
      if (r == -PVM_EPIPE)
        return 0;
      check(r, "child", "send");
    }
  }
}

static void signal_round_trip(uint32_t ch, long id)
{
  check(pvm_kill((uint64_t)id, PVM_SIGUSR1), "parent", "KILL");
  long n = pvm_channel_recv(ch, rbuf, sizeof rbuf);
  check(n, "parent", "recv");
  if (n != 1 || rbuf[0] != 's')
    fail("parent", "unexpected reply to a signal");
}

static int test_kill(int argc, char **argv)
{
  long iters = arg(argc, argv, 2, 50);
  int batches = clamp_batches(arg(argc, argv, 3, 20));
  if (iters < 1)
    fail("parent", "bad arguments");
  clock_start();
  uint32_t ch;
  long id = fork_child(&ch, signal_child);
  long n = pvm_channel_recv(ch, rbuf, sizeof rbuf); /* "r": the child is up */
  check(n, "parent", "recv ready");
  uint64_t warm = rough_ticks(WARMUP_MS / 4);
  for (uint64_t w0 = ticks(); ticks() - w0 < warm;)
    signal_round_trip(ch, id);
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = ticks();
    for (long i = 0; i < iters; i++)
      signal_round_trip(ch, id);
    batch_ns[b] = ticks() - t0;
  }
  clock_end(batches);
  printf("{\"test\":\"kill\",\"iters\":%ld,", iters);
  print_clock();
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

/* ---- exitwait: fork -> child exits -> waitpid returns --------------------------- */

static int test_exitwait(int argc, char **argv)
{
  long mib = arg(argc, argv, 2, 8);
  int runs = clamp_batches(arg(argc, argv, 3, 20));
  if (mib > 0) {
    volatile unsigned char *p = malloc((size_t)mib << 20);
    if (!p)
      fail("parent", "malloc failed");
    for (size_t off = 0; off < (size_t)mib << 20; off += 4096)
      p[off] = 1;
  }
  /* Each fork holds a channel slot until this pVM ends (see bench/ipc.ts), so
   * warm-up + runs must stay below PVM_CHANNEL_SLOTS. */
  const int warmup = 2;
  if (warmup + runs >= (int)PVM_CHANNEL_SLOTS)
    fail("parent", "too many runs: each fork keeps a channel slot");
  clock_start();
  for (int r = -warmup; r < runs; r++) {
    uint64_t t0 = ticks();
    long id = pvm_fork(0);
    check(id, "parent", "fork");
    if (id == 0)
      pvm_exit(0);
    struct pvm_child_status status = { 9, 9 };
    long w = pvm_waitpid((uint64_t)id, &status, ~0ULL); /* WAITPID; retried if the host woke it */
    uint64_t t1 = ticks();
    check(w, "parent", "WAITPID");
    if (w != id)
      fail("parent", "WAITPID returned another child");
    if (status.kind != PVM_WAIT_EXIT || status.code != 0)
      fail("parent", "the child did not exit 0");
    if (r >= 0)
      batch_ns[r] = t1 - t0;
  }
  clock_end(runs);
  printf("{\"test\":\"exitwait\",\"mib\":%ld,", mib);
  print_clock();
  print_array("runNs", batch_ns, runs);
  printf("}\n");
  return 0;
}

/* ---- shm: spin ping-pong on a shared flag --------------------------------------- */

static volatile uint32_t *shm_flag; /* shm_flag[0]: the ball; shm_flag[1]: 1 = stop */

static inline uint32_t flag_load(void) { return __atomic_load_n(shm_flag, __ATOMIC_ACQUIRE); }
static inline void flag_store(uint32_t v) { __atomic_store_n(shm_flag, v, __ATOMIC_RELEASE); }

static int shm_child(uint32_t ch)
{
  (void)ch;
  for (uint32_t want = 1;; want += 2) {
    while (flag_load() != want) {
      if (__atomic_load_n(&shm_flag[1], __ATOMIC_ACQUIRE))
        return 0;
      __builtin_ia32_pause();
    }
    flag_store(want + 1);
  }
}

static uint32_t shm_ball; /* the parent's last odd value */

static void shm_round_trip(void)
{
  shm_ball += 2;
  flag_store(shm_ball);
  while (flag_load() != shm_ball + 1)
    __builtin_ia32_pause();
}

static int test_shm(int argc, char **argv)
{
  long iters = arg(argc, argv, 2, 2000);
  int batches = clamp_batches(arg(argc, argv, 3, 20));
  if (iters < 1)
    fail("parent", "bad arguments");
  clock_start();
  long slot = pvm_shm_create(PVM_PAGE_SIZE); /* the SHM_CREATE hypercall */
  check(slot, "parent", "SHM_CREATE");
  shm_flag = (volatile uint32_t *)pvm_channel_base((uint32_t)slot);
  shm_ball = (uint32_t)-1; /* the first round sends 1 */
  uint32_t ch;
  fork_child(&ch, shm_child);
  shm_round_trip(); /* the child is up */
  uint64_t warm = rough_ticks(WARMUP_MS);
  for (uint64_t w0 = ticks(); ticks() - w0 < warm;)
    shm_round_trip();
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = ticks();
    for (long i = 0; i < iters; i++)
      shm_round_trip();
    batch_ns[b] = ticks() - t0;
  }
  __atomic_store_n(&shm_flag[1], 1, __ATOMIC_RELEASE);
  clock_end(batches);
  printf("{\"test\":\"shm\",\"iters\":%ld,", iters);
  print_clock();
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

/* ---- throughput: a stream of big messages, one ack per batch --------------------- */

static long tp_bytes, tp_msgs;

static int sink_child(uint32_t ch)
{
  for (;;) {
    if (use_pipe) {
      /* Read the batch in whatever pieces pvm_pipe_read gives, as read(2) would. */
      size_t left = (size_t)tp_bytes * (size_t)tp_msgs;
      while (left) {
        long n = pvm_pipe_read(ch, rbuf, left < sizeof rbuf ? left : sizeof rbuf);
        if (n == 0)
          return 0;
        check(n, "child", "read");
        left -= (size_t)n;
      }
    } else {
      for (long i = 0; i < tp_msgs; i++) {
        long n = pvm_channel_recv(ch, rbuf, sizeof rbuf);
        if (n == -PVM_EPIPE)
          return 0;
        check(n, "child", "recv");
      }
    }
    long r = xsend(ch, "k", 1);
    if (r == -PVM_EPIPE)
      return 0;
    check(r, "child", "send");
  }
}

static void send_batch(uint32_t ch)
{
  for (long i = 0; i < tp_msgs; i++)
    check(xsend(ch, sbuf, (size_t)tp_bytes), "parent", "send");
  check(xrecv(ch, rbuf, 1), "parent", "recv ack");
}

static int test_throughput(int argc, char **argv)
{
  set_api(argc > 2 ? argv[2] : "");
  tp_bytes = arg(argc, argv, 3, PVM_CHANNEL_MAX_MESSAGE);
  tp_msgs = arg(argc, argv, 4, 128);
  int batches = clamp_batches(arg(argc, argv, 5, 8));
  long spin = arg(argc, argv, 6, -1);
  if (tp_bytes < 1 || tp_bytes > PVM_CHANNEL_MAX_MESSAGE || tp_msgs < 1)
    fail("parent", "bad arguments");
  if (spin >= 0)
    pvm_channel_spin = (unsigned)spin;
  for (long i = 0; i < tp_bytes; i++)
    sbuf[i] = (unsigned char)(i * 7);
  clock_start();
  uint32_t ch;
  fork_child(&ch, sink_child);
  send_batch(ch); /* the child is up */
  uint64_t warm = rough_ticks(WARMUP_MS);
  for (uint64_t w0 = ticks(); ticks() - w0 < warm;)
    send_batch(ch);
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = ticks();
    send_batch(ch);
    batch_ns[b] = ticks() - t0;
  }
  clock_end(batches);
  printf("{\"test\":\"throughput\",\"api\":\"%s\",\"bytes\":%ld,\"msgs\":%ld,\"spin\":%u,", api_name(),
         tp_bytes, tp_msgs, pvm_channel_spin);
  print_clock();
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

int main(int argc, char **argv)
{
  const char *test = argc > 1 ? argv[1] : "";
  if (strcmp(test, "pipe") == 0 || strcmp(test, "msg") == 0)
    return test_rtt(argc, argv);
  if (strcmp(test, "kill") == 0)
    return test_kill(argc, argv);
  if (strcmp(test, "exitwait") == 0)
    return test_exitwait(argc, argv);
  if (strcmp(test, "shm") == 0)
    return test_shm(argc, argv);
  if (strcmp(test, "throughput") == 0)
    return test_throughput(argc, argv);
  printf("usage: ipc_bench pipe|msg|kill|exitwait|shm|throughput [args...]\n");
  return 2;
}
