// CLOCK_MONOTONIC in nanoseconds: the clock every timestamp in the control protocol uses.
#pragma once

#include <time.h>

#include <cstdint>

namespace pvm::monitor {

inline uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A value for the boot-info page's clock_epoch (abi.json) never handed out before on this
// host: the runtime sets its rdtsc clock again on seeing a new one.
inline uint64_t NewClockEpoch() { return MonotonicNs() | 1; }

}  // namespace pvm::monitor
