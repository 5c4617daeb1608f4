/*
 * loop-native: the native baseline of the guest `loop` benchmark: the same dec/jnz
 * loop (loop_kernel.h), argv[1] iterations (default 100000000), timed with
 * CLOCK_MONOTONIC; prints "loop <iters> iterations <ns> ns".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "baseline.h"
#include "loop_kernel.h"

int main(int argc, char **argv)
{
  unsigned long long iters = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000000ULL;
  uint64_t t0 = now_ns();
  pvm_loop_kernel(iters);
  uint64_t t1 = now_ns();
  printf("loop %llu iterations %llu ns\n", iters, (unsigned long long)(t1 - t0));
  return 0;
}
