/*
 * The benchmark loop shared by the guest (test/guests/loop.c) and the native baseline
 * (bench/native/loop-native.c): `iters` iterations of `dec; jnz`, in inline assembly so
 * that both programs run exactly the same instructions whatever the compiler flags.
 * Header-only and freestanding (needs only <stdint.h>).
 */
#ifndef PVM_LOOP_KERNEL_H
#define PVM_LOOP_KERNEL_H

#include <stdint.h>

/** Spin `iters` times around a two-instruction `dec/jnz` loop (0 = no iteration). */
static inline void pvm_loop_kernel(uint64_t iters)
{
  if (iters == 0)
    return;
  __asm__ volatile(
      ".p2align 4\n"
      "1:\n\t"
      "dec %0\n\t"
      "jnz 1b"
      : "+r"(iters)
      :
      : "cc");
}

#endif /* PVM_LOOP_KERNEL_H */
