#include "monitor/blocking.h"

#include <poll.h>
#include <unistd.h>

#include <cstdlib>

#include "monitor/clock.h"

namespace pvm::monitor {

namespace {

uint64_t g_max_delay_us = 0;
uint64_t g_rng = 0;
pid_t g_rng_pid = 0;

uint64_t Random() {
  // A forked monitor must not replay its parent's sequence: reseed once per process.
  pid_t pid = getpid();
  if (pid != g_rng_pid) {
    g_rng_pid = pid;
    g_rng ^= MonotonicNs() * 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(pid) << 32;
    if (g_rng == 0) g_rng = 1;
  }
  g_rng ^= g_rng << 13;  // xorshift64
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}

}  // namespace

void SetActivity(Monitor* m, Activity activity, uint64_t on, const uint32_t* slots, uint32_t count) {
  m->registry.SetActivity(m->identity.id, activity, MonotonicNs(), on, slots, count);
}

void ReadRaceDelayOption() {
  const char* v = getenv("PVM_TEST_RACE_DELAY_US");
  if (v) g_max_delay_us = strtoull(v, nullptr, 10);
}

void RaceDelay() {
  if (g_max_delay_us == 0) return;
  uint64_t r = Random();
  if (r & 1) return;
  uint64_t us = (r >> 1) % (g_max_delay_us + 1);
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
  // ppoll with no fds and the current mask: a sleep that no signal cuts short (the kick
  // signals are blocked here), so the window really stays open. Allowed by seccomp.
  ppoll(nullptr, 0, &ts, nullptr);
}

}  // namespace pvm::monitor
