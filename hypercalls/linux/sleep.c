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

/* CLOCK_PROCESS_CPUTIME_ID (C's clock(), Lua's os.clock): the pVM's vCPU runs this one
 * process, so its CPU time is the time since the process (or its image) started less the
 * time it spent waiting in WAIT or WAITPID. Without an exit; the host's own preemption of
 * the vCPU counts as run time. */
static uint64_t cpu_start_ns, idle_ns;
void linux_cpu_clock_start(void) { cpu_start_ns = linux_now_ns(), idle_ns = 0; }
void linux_cpu_idle_since(uint64_t t0) { idle_ns += linux_now_ns() - t0; }
uint64_t linux_cpu_ns(void)
{
  uint64_t ran = linux_now_ns() - cpu_start_ns;
  return ran > idle_ns ? ran - idle_ns : 0;
}

void linux_sleep_ns(uint64_t ns)
{
  linux_drop_pvm_signals();
  uint64_t t0 = linux_now_ns();
  (void)pvm_hypercall3(PVM_HC_WAIT, 0, 0, (long)ns);
  linux_cpu_idle_since(t0);
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
