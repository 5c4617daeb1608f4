/*
 * ipc-baseline: two ordinary Linux processes doing what the ipc_bench guest does
 * (test/guests/ipc_bench.c), the baseline of bench/ipc.ts. Same JSON shapes:
 *
 *   ipc-baseline pipe <bytes> <iters> <batches>
 *       round trips of <bytes> over a pipe pair (parent writes, child reads it all and
 *       writes it back): {"test":"pipe","bytes":B,"iters":I,"batchNs":[...]}
 *   ipc-baseline seqpacket <bytes> <iters> <batches>
 *       the same over socketpair(AF_UNIX, SOCK_SEQPACKET): {"test":"seqpacket",...}
 *   ipc-baseline kill <iters> <batches>
 *       kill(child, SIGUSR1) to a child blocked in sigwaitinfo, which answers 1 byte
 *       on a pipe: {"test":"kill","iters":I,"batchNs":[...]}
 *   ipc-baseline exitwait <MiB> <touch MiB> <runs>
 *       with <MiB> of private anonymous memory of which <touch MiB> written (4 KiB
 *       pages, no madvise): per run t0; fork (the child _exits at once); waitpid; t1:
 *       {"test":"exitwait","mib":M,"runNs":[...]}
 *   ipc-baseline shm <iters> <batches>
 *       ping-pong on a u32 in a MAP_SHARED anonymous page, both spinning (pause); a
 *       second u32 stops the child:
 *       {"test":"shm","iters":I,"batchNs":[...]}
 *   ipc-baseline throughput <bytes> <msgs> <batches>
 *       per batch <msgs> write()s of <bytes> into a pipe, the child reads all of it and
 *       answers 1 byte on another: {"test":"throughput","bytes":B,"msgs":N,"batchNs":[...]}
 *   ipc-baseline echo
 *       copies stdin to stdout until EOF (the peer of bench/ipc.ts's Node baseline).
 *
 * Every timed test has an untimed warm-up first (WARMUP_MS), like the guest. Children die with the
 * parent (PR_SET_PDEATHSIG). Errors go to stderr, exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"
#include "ipc_bench_common.h"

#define MAX_MESSAGE 65536

static unsigned char sbuf[MAX_MESSAGE];
static unsigned char rbuf[MAX_MESSAGE];
static uint64_t batch_ns[MAX_BATCHES];

/* The warm-up before the timed batches (WARMUP_MS), as in the guest. */
#define WARMUP(op)                                                        \
  for (uint64_t w0_ = now_ns(); now_ns() - w0_ < WARMUP_MS * 1000000ULL;) \
    op

static void die(const char *what)
{
  fprintf(stderr, "ipc-baseline: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail(const char *what)
{
  fprintf(stderr, "ipc-baseline: %s\n", what);
  exit(1);
}

/* Full read/write of n bytes; read_full returns 0 at EOF before anything was read. */
static int read_full(int fd, void *buf, size_t n)
{
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (unsigned char *)buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      die("read");
    if (r == 0) {
      if (got == 0)
        return 0;
      fail("short read");
    }
    got += (size_t)r;
  }
  return 1;
}

static void write_full(int fd, const void *buf, size_t n)
{
  size_t put = 0;
  while (put < n) {
    ssize_t r = write(fd, (const unsigned char *)buf + put, n - put);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      die("write");
    put += (size_t)r;
  }
}

/* fork(); the child dies with the parent. Returns the pid in the parent, 0 in the child. */
static pid_t fork_child(void)
{
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    die("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(0);
  }
  return pid;
}

static void reap(pid_t pid, int kill_it)
{
  if (kill_it)
    kill(pid, SIGKILL);
  while (waitpid(pid, 0, 0) < 0 && errno == EINTR)
    ;
}

/* ---- pipe / seqpacket round trips -------------------------------------------------- */

static void rtt_once(int p_out, int p_in, int seq, size_t bytes)
{
  write_full(p_out, sbuf, bytes);
  if (seq) {
    ssize_t r = read(p_in, rbuf, sizeof rbuf);
    if (r != (ssize_t)bytes)
      fail("seqpacket echo of the wrong length");
  } else if (!read_full(p_in, rbuf, bytes)) {
    fail("the child closed the pipe");
  }
}

/* Parent writes on `out`, reads on `in`; the child the other way round. seq: each
 * message is one datagram (one read returns it whole). */
static void rtt(int p_out, int p_in, int c_in, int c_out, int seq, size_t bytes, long iters, int batches)
{
  pid_t pid = fork_child();
  if (pid == 0) {
    close(p_out);
    if (p_in != p_out)
      close(p_in);
    for (;;) {
      if (seq) {
        ssize_t n = read(c_in, rbuf, sizeof rbuf);
        if (n <= 0)
          _exit(0);
        write_full(c_out, rbuf, (size_t)n);
      } else {
        if (!read_full(c_in, rbuf, bytes))
          _exit(0);
        write_full(c_out, rbuf, bytes);
      }
    }
  }
  close(c_in);
  if (c_out != c_in)
    close(c_out);
  WARMUP(rtt_once(p_out, p_in, seq, bytes));
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++)
      rtt_once(p_out, p_in, seq, bytes);
    batch_ns[b] = now_ns() - t0;
  }
  close(p_out);
  if (p_in != p_out)
    close(p_in);
  reap(pid, 0);
}

static int test_pipe(int argc, char **argv, int seq)
{
  long bytes = arg(argc, argv, 2, 64);
  long iters = arg(argc, argv, 3, 500);
  int batches = clamp_batches(arg(argc, argv, 4, 20));
  if (bytes < 1 || bytes > MAX_MESSAGE || iters < 1)
    fail("bad arguments");
  if (seq) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
      die("socketpair");
    rtt(sv[0], sv[0], sv[1], sv[1], 1, (size_t)bytes, iters, batches);
  } else {
    int down[2], up[2];
    if (pipe(down) < 0 || pipe(up) < 0)
      die("pipe");
    rtt(down[1], up[0], down[0], up[1], 0, (size_t)bytes, iters, batches);
  }
  printf("{\"test\":\"%s\",\"bytes\":%ld,\"iters\":%ld,", seq ? "seqpacket" : "pipe", bytes, iters);
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

/* ---- kill: SIGUSR1 -> sigwaitinfo -> 1 byte back ----------------------------------- */

static void signal_once(pid_t pid, int reply_fd)
{
  if (kill(pid, SIGUSR1) < 0)
    die("kill");
  if (!read_full(reply_fd, rbuf, 1) || rbuf[0] != 's')
    fail("unexpected reply to a signal");
}

static int test_kill(int argc, char **argv)
{
  long iters = arg(argc, argv, 2, 50);
  int batches = clamp_batches(arg(argc, argv, 3, 20));
  int up[2];
  if (pipe(up) < 0)
    die("pipe");
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &usr1, 0) < 0) /* before the fork: no signal is lost */
    die("sigprocmask");
  pid_t pid = fork_child();
  if (pid == 0) {
    close(up[0]);
    for (;;) {
      siginfo_t si;
      int s = sigwaitinfo(&usr1, &si);
      if (s < 0 && errno == EINTR)
        continue;
      if (s < 0)
        die("sigwaitinfo");
      write_full(up[1], "s", 1);
    }
  }
  close(up[1]);
  WARMUP(signal_once(pid, up[0]));
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++)
      signal_once(pid, up[0]);
    batch_ns[b] = now_ns() - t0;
  }
  reap(pid, 1);
  printf("{\"test\":\"kill\",\"iters\":%ld,", iters);
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

/* ---- exitwait: fork -> _exit -> waitpid ------------------------------------------- */

static int test_exitwait(int argc, char **argv)
{
  long mib = arg(argc, argv, 2, 16);
  long touch = arg(argc, argv, 3, mib / 2);
  int runs = clamp_batches(arg(argc, argv, 4, 20));
  if (mib < 1 || touch < 0 || touch > mib)
    fail("bad arguments");
  size_t size = (size_t)mib << 20;
  unsigned char *mem = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    die("mmap");
  for (size_t off = 0; off < (size_t)touch << 20; off += 4096)
    mem[off] = 1;
  for (int r = -2; r < runs; r++) {
    uint64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid == 0)
      _exit(0);
    if (pid < 0)
      die("fork");
    int status;
    while (waitpid(pid, &status, 0) < 0)
      if (errno != EINTR)
        die("waitpid");
    uint64_t t1 = now_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail("the child did not exit 0");
    if (r >= 0)
      batch_ns[r] = t1 - t0;
  }
  printf("{\"test\":\"exitwait\",\"mib\":%ld,", mib);
  print_array("runNs", batch_ns, runs);
  printf("}\n");
  munmap(mem, size);
  return 0;
}

/* ---- shm: spin ping-pong on a MAP_SHARED page ------------------------------------- */

static volatile uint32_t *shm_flag; /* shm_flag[0]: the ball; shm_flag[1]: 1 = stop */
static uint32_t shm_ball;            /* the parent's last odd value */

static void shm_once(void)
{
  shm_ball += 2;
  __atomic_store_n(shm_flag, shm_ball, __ATOMIC_RELEASE);
  while (__atomic_load_n(shm_flag, __ATOMIC_ACQUIRE) != shm_ball + 1)
    __builtin_ia32_pause();
}

static int test_shm(int argc, char **argv)
{
  long iters = arg(argc, argv, 2, 2000);
  int batches = clamp_batches(arg(argc, argv, 3, 20));
  shm_flag = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm_flag == MAP_FAILED)
    die("mmap");
  pid_t pid = fork_child();
  if (pid == 0) {
    for (uint32_t want = 1;; want += 2) {
      while (__atomic_load_n(shm_flag, __ATOMIC_ACQUIRE) != want) {
        if (__atomic_load_n(&shm_flag[1], __ATOMIC_ACQUIRE))
          _exit(0);
        __builtin_ia32_pause();
      }
      __atomic_store_n(shm_flag, want + 1, __ATOMIC_RELEASE);
    }
  }
  shm_ball = (uint32_t)-1; /* the first round sends 1 */
  WARMUP(shm_once());
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++)
      shm_once();
    batch_ns[b] = now_ns() - t0;
  }
  __atomic_store_n(&shm_flag[1], 1, __ATOMIC_RELEASE);
  reap(pid, 0);
  printf("{\"test\":\"shm\",\"iters\":%ld,", iters);
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

/* ---- throughput: a stream of big writes, one ack per batch ------------------------ */

static void send_batch(int data_fd, int ack_fd, size_t bytes, long msgs)
{
  for (long i = 0; i < msgs; i++)
    write_full(data_fd, sbuf, bytes);
  if (!read_full(ack_fd, rbuf, 1))
    fail("the child closed the pipe");
}

static int test_throughput(int argc, char **argv)
{
  long bytes = arg(argc, argv, 2, MAX_MESSAGE);
  long msgs = arg(argc, argv, 3, 128);
  int batches = clamp_batches(arg(argc, argv, 4, 8));
  if (bytes < 1 || bytes > MAX_MESSAGE || msgs < 1)
    fail("bad arguments");
  int down[2], up[2];
  if (pipe(down) < 0 || pipe(up) < 0)
    die("pipe");
  for (long i = 0; i < bytes; i++)
    sbuf[i] = (unsigned char)(i * 7);
  pid_t pid = fork_child();
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    size_t per_batch = (size_t)bytes * (size_t)msgs;
    for (;;) {
      size_t got = 0;
      while (got < per_batch) {
        size_t want = per_batch - got < sizeof rbuf ? per_batch - got : sizeof rbuf;
        ssize_t r = read(down[0], rbuf, want);
        if (r < 0 && errno == EINTR)
          continue;
        if (r < 0)
          die("read");
        if (r == 0)
          _exit(0);
        got += (size_t)r;
      }
      write_full(up[1], "k", 1);
    }
  }
  close(down[0]);
  close(up[1]);
  WARMUP(send_batch(down[1], up[0], (size_t)bytes, msgs));
  for (int b = 0; b < batches; b++) {
    uint64_t t0 = now_ns();
    send_batch(down[1], up[0], (size_t)bytes, msgs);
    batch_ns[b] = now_ns() - t0;
  }
  close(down[1]);
  reap(pid, 0);
  printf("{\"test\":\"throughput\",\"bytes\":%ld,\"msgs\":%ld,", bytes, msgs);
  print_array("batchNs", batch_ns, batches);
  printf("}\n");
  return 0;
}

/* ---- echo: stdin -> stdout -------------------------------------------------------- */

static int test_echo(void)
{
  for (;;) {
    ssize_t n = read(0, rbuf, sizeof rbuf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die("read");
    if (n == 0)
      return 0;
    write_full(1, rbuf, (size_t)n);
  }
}

int main(int argc, char **argv)
{
  const char *test = argc > 1 ? argv[1] : "";
  if (strcmp(test, "pipe") == 0)
    return test_pipe(argc, argv, 0);
  if (strcmp(test, "seqpacket") == 0)
    return test_pipe(argc, argv, 1);
  if (strcmp(test, "kill") == 0)
    return test_kill(argc, argv);
  if (strcmp(test, "exitwait") == 0)
    return test_exitwait(argc, argv);
  if (strcmp(test, "shm") == 0)
    return test_shm(argc, argv);
  if (strcmp(test, "throughput") == 0)
    return test_throughput(argc, argv);
  if (strcmp(test, "echo") == 0)
    return test_echo();
  fprintf(stderr, "usage: ipc-baseline pipe|seqpacket|kill|exitwait|shm|throughput|echo [args...]\n");
  return 2;
}
