/*
 * hello-static: a statically linked hello. The first thing main() does is write its
 * CLOCK_MONOTONIC time in ns as a decimal line to stdout (spawn-baseline reads it as
 * "the child's first instruction"), then "hello".
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  char line[64];
  int n = snprintf(line, sizeof line, "%llu\nhello\n",
                   (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
  /* One write(2): no stdio buffering between the clock read and the pipe. */
  return write(1, line, (size_t)n) == n ? 0 : 1;
}
