/*
 * fork-baseline: how long fork(2) of a plain process takes, the baseline for pVM fork.
 *   usage: fork-baseline <MiB> <runs>
 * Maps <MiB> of plain anonymous memory (no madvise, so no forced THP), writes one byte
 * per 4 KiB page of its first half (like the `idle` guest), then each run:
 *   t0 = CLOCK_MONOTONIC; pid = fork(); child: _exit(0) at once;
 *   parent: t1 = CLOCK_MONOTONIC (fork returned); waitpid; t2 = CLOCK_MONOTONIC.
 * Prints one JSON line:
 *   {"forkReturnUs": <median(t1 - t0)>, "forkExitWaitUs": <median(t2 - t0)>, "mib": M, "runs": N}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"

static void die(const char *what, int err)
{
  fprintf(stderr, "fork-baseline: %s: %s\n", what, strerror(err));
  exit(1);
}

/* One run; returns fork()-return and fork+exit+wait times in microseconds. */
static void run_once(double *return_us, double *wait_us)
{
  uint64_t t0 = now_ns();
  pid_t pid = fork();
  if (pid == 0)
    _exit(0);
  uint64_t t1 = now_ns();
  if (pid < 0)
    die("fork", errno);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      die("waitpid", errno);
  uint64_t t2 = now_ns();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "fork-baseline: child ended with status %d\n", status);
    exit(1);
  }
  *return_us = (double)(t1 - t0) / 1000.0;
  *wait_us = (double)(t2 - t0) / 1000.0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: fork-baseline <MiB> [runs]\n");
    return 2;
  }
  long mib = atol(argv[1]);
  int runs = argc > 2 ? atoi(argv[2]) : 15;
  if (mib < 1) {
    fprintf(stderr, "fork-baseline: bad size \"%s\"\n", argv[1]);
    return 2;
  }
  if (runs < 1)
    runs = 1;

  size_t size = (size_t)mib << 20;
  unsigned char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    die("mmap", errno);
  for (size_t off = 0; off < size / 2; off += 4096)
    mem[off] = (unsigned char)(off >> 12 | 1);

  double *ret = calloc((size_t)runs, sizeof *ret);
  double *done = calloc((size_t)runs, sizeof *done);
  if (!ret || !done)
    die("calloc", ENOMEM);

  double warm_ret, warm_done; /* one warm-up run */
  run_once(&warm_ret, &warm_done);
  for (int i = 0; i < runs; i++)
    run_once(&ret[i], &done[i]);

  printf("{\"forkReturnUs\": %.1f, \"forkExitWaitUs\": %.1f, \"mib\": %ld, \"runs\": %d}\n",
         median(ret, runs), median(done, runs), mib, runs);
  free(ret);
  free(done);
  munmap(mem, size);
  return 0;
}
