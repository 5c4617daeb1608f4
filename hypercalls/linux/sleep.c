/*
 * Waiting for something no doorbell announces: a pipe is a ring in a shared region that
 * any pVM of the family may write (pipe.c), and a pVM can only wake its own channels'
 * peers, so a blocked reader or writer polls. It spins briefly (the other end is often
 * running on another core), then sleeps in WAIT with no channel for 20 µs, doubling up
 * to 2 ms, so an idle wait costs few exits and a busy pipe little latency.
 */
#include "linux.h"

#define SPINS 200
#define FIRST_SLEEP_NS 20000ull
#define MAX_SLEEP_NS 2000000ull

uint64_t linux_now_ns(void) { return __pvm_clock_ns(linux_boot); }  /* no exit on kvm (runtime/clock.c) */

void linux_sleep_ns(uint64_t ns)
{
  linux_drop_pvm_signals();
  (void)pvm_hypercall3(PVM_HC_WAIT, 0, 0, (long)ns);
}

void linux_backoff_wait(struct linux_backoff *b)
{
  if (b->spins < SPINS) {
    b->spins++;
    __builtin_ia32_pause();
    return;
  }
  b->sleep_ns = b->sleep_ns == 0 ? FIRST_SLEEP_NS : b->sleep_ns * 2;
  if (b->sleep_ns > MAX_SLEEP_NS)
    b->sleep_ns = MAX_SLEEP_NS;
  linux_sleep_ns(b->sleep_ns);
}
