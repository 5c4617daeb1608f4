/*
 * spawn-baseline: how long a plain process takes to start and to finish, the baseline
 * for pVM spawn latency.
 *   usage: spawn-baseline <path to hello-static> <runs>
 * Each run: t0 = CLOCK_MONOTONIC; posix_spawn hello-static with stdout on a pipe; read
 * its first line (its own CLOCK_MONOTONIC at main()); waitpid; t2 = CLOCK_MONOTONIC.
 * Prints one JSON line:
 *   {"firstInstructionUs": <median(child_start - t0)>, "toExitUs": <median(t2 - t0)>, "runs": N}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"

extern char **environ;

static void die(const char *what, int err)
{
  fprintf(stderr, "spawn-baseline: %s: %s\n", what, strerror(err));
  exit(1);
}

/* One run; returns child_start - t0 and t2 - t0 in microseconds. */
static void run_once(const char *path, double *first_us, double *exit_us)
{
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    die("pipe", errno);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1); /* dup2 clears O_CLOEXEC on fd 1 */
  char *argv[] = { (char *)path, NULL };

  uint64_t t0 = now_ns();
  pid_t pid;
  int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0)
    die(path, rc);

  char line[128];
  size_t len = 0;
  while (len < sizeof line - 1) {
    ssize_t r = read(fds[0], line + len, sizeof line - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
    if (memchr(line, '\n', len))
      break;
  }
  line[len] = '\0';
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      die("waitpid", errno);
  uint64_t t2 = now_ns();
  close(fds[0]);

  char *end;
  unsigned long long child_start = strtoull(line, &end, 10);
  if (end == line || *end != '\n' || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "spawn-baseline: bad child output \"%s\" or status %d\n", line, status);
    exit(1);
  }
  *first_us = ((double)child_start - (double)t0) / 1000.0;
  *exit_us = (double)(t2 - t0) / 1000.0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: spawn-baseline <path to hello-static> [runs]\n");
    return 2;
  }
  const char *path = argv[1];
  int runs = argc > 2 ? atoi(argv[2]) : 100;
  if (runs < 1)
    runs = 1;
  double *first = calloc((size_t)runs, sizeof *first);
  double *done = calloc((size_t)runs, sizeof *done);
  if (!first || !done)
    die("calloc", ENOMEM);

  double warm_first, warm_done; /* one warm-up run: page cache, dynamic loader state */
  run_once(path, &warm_first, &warm_done);
  for (int i = 0; i < runs; i++)
    run_once(path, &first[i], &done[i]);

  printf("{\"firstInstructionUs\": %.1f, \"toExitUs\": %.1f, \"runs\": %d}\n",
         median(first, runs), median(done, runs), runs);
  free(first);
  free(done);
  return 0;
}
