/*
 * loop: the CPU benchmark. argv[1] = iterations (default 100000000) of the dec/jnz loop
 * in bench/native/loop_kernel.h (the same one loop-native runs), timed with the TIME
 * hypercall; prints "loop <iters> iterations <ns> ns" and exits 0.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include "loop_kernel.h"

int main(int argc, char **argv)
{
  unsigned long long iters = argc > 1 ? strtoull(argv[1], 0, 10) : 100000000ULL;
  uint64_t t0 = pvm_time_ns();
  pvm_loop_kernel(iters);
  uint64_t t1 = pvm_time_ns();
  printf("loop %llu iterations %llu ns\n", iters, (unsigned long long)(t1 - t0));
  return 0;
}
