/*
 * exec-baseline <hello-static> <runs>: how long execve(2) of a static binary takes to
 * reach its main(): a forked child reads CLOCK_MONOTONIC and execs hello-static, which
 * prints its own start time first. Prints {"execveUs": median} as one JSON line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: exec-baseline <hello-static> <runs>\n");
    return 2;
  }
  int runs = atoi(argv[2]);
  if (runs < 1 || runs > 10000)
    return 2;
  double *us = calloc((size_t)runs, sizeof *us);
  for (int i = 0; i < runs + 3; i++) {
    int out[2], start[2];
    if (pipe(out) || pipe(start))
      return 1;
    pid_t pid = fork();
    if (pid < 0)
      return 1;
    if (pid == 0) {
      unsigned long long t0 = now_ns();
      if (write(start[1], &t0, sizeof t0) != sizeof t0)
        _exit(1);
      dup2(out[1], 1);
      execl(argv[1], argv[1], (char *)0);
      _exit(127);
    }
    close(out[1]);
    close(start[1]);
    unsigned long long t0 = 0, t1 = 0;
    char line[128] = {0};
    ssize_t n = read(start[0], &t0, sizeof t0);
    ssize_t m = read(out[0], line, sizeof line - 1);
    int status;
    waitpid(pid, &status, 0);
    close(out[0]);
    close(start[0]);
    if (n != sizeof t0 || m <= 0 || sscanf(line, "%llu", &t1) != 1)
      return 1;
    if (i >= 3)
      us[i - 3] = (double)(t1 - t0) / 1000.0; /* the first three warm the caches */
  }
  qsort(us, (size_t)runs, sizeof *us, baseline_cmp_double);
  printf("{\"execveUs\": %.1f}\n", us[runs / 2]);
  return 0;
}
