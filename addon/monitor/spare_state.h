// What a monitor keeps of its warm fork spare (spares.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "monitor/channels.h"

namespace pvm::monitor {

struct Spares {
  struct Spare {
    pid_t pid = -1;
    int pidfd = -1;
    int sock = -1;  // Activate goes here
    uint64_t made_ns = 0;
    // Made with the spare, off the fork's critical path: the fork's channel and the
    // child's control socket ([0] the host's end, [1] the child's).
    NewChannel channel;
    int control[2] = {-1, -1};
  };
  bool enabled = false;
  bool want = false;            // make one at the next chance after want_at_ns
  uint64_t want_at_ns = 0;
  uint64_t delay_ns = 0;        // before the next spare after a fork (0: kSpareDelayNs); adapts
  uint64_t last_fork_ns = 0;
  Spare spare;
  uint8_t* xfer = nullptr;      // shared with the spare: vCPU state and pages (one per spare)
  std::vector<uint64_t> monitor_dirty;  // pages the monitor wrote since the spare was made
};

}  // namespace pvm::monitor
