/*
 * The clock: host CLOCK_MONOTONIC in nanoseconds, read without an exit where the monitor
 * gives the rate of the guest's TSC (boot-info tsc_khz, abi.json). One TIME hypercall sets
 * a base (rdtsc just before and after it: the middle is taken); later reads scale rdtsc
 * from there. The base is set again when the boot-info clock_epoch changes (a fork child,
 * a reset, a pVM spawned from a snapshot, an exec: another vCPU, maybe another TSC) and
 * every 100 ms, so the clock follows the host's, which NTP may slew. It never goes
 * backwards. With tsc_khz 0 every read is a TIME hypercall (one exit).
 *
 * Shared by the runtime (pvm_time_ns) and the Linux personality (clock_gettime): each
 * binary has its own state.
 */
#include <pvm.h>

#define RESYNC_NS 100000000ull /* 100 ms: a rate off by 0.1% (a calibrated guess under nested virtualization) drifts 0.1 ms */

static struct {
  uint64_t epoch;     /* the clock_epoch the base was set under; 0: none yet */
  uint64_t base_tsc;
  uint64_t base_ns;
  uint64_t mult;      /* nanoseconds per tick, << 32 */
  uint64_t last_ns;   /* what was last returned: never go below it */
} clock_state;

static inline uint64_t read_tsc(void)
{
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static uint64_t exit_time(void) { return (uint64_t)pvm_hypercall0(PVM_HC_TIME); }

static uint64_t later(uint64_t ns)
{
  if (ns < clock_state.last_ns)
    ns = clock_state.last_ns;
  clock_state.last_ns = ns;
  return ns;
}

/* The base: the TIME read whose exit took the fewest ticks of a few (an exit that took
 * long, the vCPU scheduled out, leaves the base uncertain by half of it). */
static uint64_t set_base(uint64_t epoch, uint64_t khz)
{
  uint64_t good_window = khz / 20; /* 50 us */
  uint64_t best_window = ~0ull;
  for (int i = 0; i < 4 && best_window > good_window; i++) {
    uint64_t before = read_tsc();
    uint64_t ns = exit_time();
    uint64_t after = read_tsc();
    if (after - before < best_window) {
      best_window = after - before;
      clock_state.base_tsc = before + best_window / 2;
      clock_state.base_ns = ns;
    }
  }
  clock_state.mult = (1000000ull << 32) / khz;
  clock_state.epoch = epoch;
  return later(clock_state.base_ns);
}

uint64_t __pvm_clock_ns(const volatile struct pvm_boot_info *boot)
{
  uint64_t khz = boot->tsc_khz;
  if (khz == 0)
    return later(exit_time());
  uint64_t epoch = boot->clock_epoch;
  if (epoch != clock_state.epoch)
    return set_base(epoch, khz);
  uint64_t now = read_tsc();
  uint64_t ticks = now > clock_state.base_tsc ? now - clock_state.base_tsc : 0;
  uint64_t ns = clock_state.base_ns + (uint64_t)(((unsigned __int128)ticks * clock_state.mult) >> 32);
  if (ns - clock_state.base_ns >= RESYNC_NS)
    return set_base(epoch, khz);
  return later(ns);
}

uint64_t pvm_time_ns(void)
{
  return __pvm_clock_ns((const volatile struct pvm_boot_info *)(uintptr_t)PVM_BOOT_INFO_GPA);
}
