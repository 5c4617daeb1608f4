// What a fork child keeps of its fork point, for reset (reset.h).
#pragma once

#include <sys/types.h>

#include <bitset>
#include <cstdint>
#include <vector>

#include "pvm/abi.h"

namespace pvm::monitor {

struct ResetPoint {
  bool armed = false;   // a fork child with a keeper: reset can work
  pid_t keeper = -1;    // holds guest RAM as it was at the fork point (copy-on-write)
  int keeper_pidfd = -1;
  std::vector<uint8_t> state;     // the vCPU at the fork point (SavedState::Serialize)
  std::vector<uint64_t> touched;  // pages the monitor reached since (GuestMemory::TrackAccess)
  std::vector<uint64_t> logged;   // pages the dirty log gave to someone else since (spares)
  std::bitset<PVM_CHANNEL_SLOTS> slots;  // the channel slots open at the fork point
  uint32_t fork_slot = PVM_NO_CHANNEL;   // its channel to the forker
};

}  // namespace pvm::monitor
