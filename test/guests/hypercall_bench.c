/*
 * hypercall_bench: the round trip of one hypercall (bench/hypercall.ts).
 *   hypercall_bench <batches> <per_batch>
 * Alternates, batch by batch, a no-op hypercall (GETID) and the floor: a bare write to
 * the floor port, which the monitor answers with no work. Interleaved, so both see the
 * same machine load. Each batch is timed with the TIME hypercall (one per batch: noise
 * well below 1%) and printed as "rtt <ns per call>" or "floor <ns per call>"; the host
 * takes the medians. Then the clock: "clock <ns per pvm_time_ns() read>" over 100000 reads
 * and "time <ns per TIME hypercall>" over 200 (what a read cost when every read exited).
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t batch(int floor, long per)
{
  uint64_t t0 = pvm_time_ns();
  if (floor) {
    for (long i = 0; i < per; i++)
      pvm_transport_floor();
  } else {
    for (long i = 0; i < per; i++)
      pvm_getid();
  }
  return (pvm_time_ns() - t0) / (uint64_t)per;
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    printf("usage: hypercall_bench <batches> <per_batch>\n");
    return 2;
  }
  long batches = strtol(argv[1], NULL, 10);
  long per = strtol(argv[2], NULL, 10);
  if (batches <= 0 || per <= 0)
    return 2;
  for (long b = 0; b < batches; b++) {
    /* Which goes first alternates too: neither always follows the other's exits. */
    int first = b & 1;
    uint64_t x = batch(first, per), y = batch(!first, per);
    printf("%s %llu\n%s %llu\n", first ? "floor" : "rtt", (unsigned long long)x, first ? "rtt" : "floor",
           (unsigned long long)y);
  }
  uint64_t t0 = pvm_time_ns();
  for (int i = 0; i < 100000; i++)
    pvm_time_ns();
  uint64_t t1 = pvm_time_ns();
  for (int i = 0; i < 200; i++)
    pvm_hypercall0(PVM_HC_TIME);
  uint64_t t2 = pvm_time_ns();
  printf("clock %llu\ntime %llu\n", (unsigned long long)((t1 - t0) / 100000), (unsigned long long)((t2 - t1) / 200));
  return 0;
}
