/*
 * What the IPC benchmark's two sides share: the guest (test/guests/ipc_bench.c) and the
 * native baseline (bench/native/ipc-baseline.c) take the same arguments, warm up as
 * long, and print the same JSON shapes, which bench/ipc.ts parses. Plain C over
 * printf/strtol, so it builds with glibc and with the pvm guest runtime alike.
 */
#ifndef PVM_IPC_BENCH_COMMON_H
#define PVM_IPC_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_BATCHES 256

/* The untimed warm-up before the timed batches: long enough for the scheduler to
 * settle two busy threads (right after a fork the child often shares the parent's core;
 * a few tens of ms later it has moved) and for every page to be in. */
#define WARMUP_MS 100

/* argv[i] as a number, or dflt when it is absent. */
static inline long arg(int argc, char **argv, int i, long dflt)
{
  return argc > i ? strtol(argv[i], 0, 10) : dflt;
}

static inline int clamp_batches(long b)
{
  if (b < 1)
    return 1;
  return b > MAX_BATCHES ? MAX_BATCHES : (int)b;
}

/* Prints `"name":[v0,v1,...]` (no braces). */
static inline void print_array(const char *name, const uint64_t *v, int n)
{
  printf("\"%s\":[", name);
  for (int i = 0; i < n; i++)
    printf(i ? ",%llu" : "%llu", (unsigned long long)v[i]);
  printf("]");
}

#endif
