// What a fork child keeps of its fork point, for reset (reset.h).
#pragma once

#include <sys/types.h>

#include <bitset>
#include <memory>
#include <cstdint>
#include <vector>

#include "monitor/backend.h"
#include "pvm/abi.h"

namespace pvm::monitor {

struct ResetPoint {
  bool armed = false;   // a fork child with a keeper: reset can work
  pid_t keeper = -1;    // holds guest RAM as it was at the fork point (copy-on-write)
  int keeper_pidfd = -1;
  std::unique_ptr<SavedState> saved;  // the vCPU at the fork point
  std::vector<uint64_t> touched;  // pages the monitor reached since (GuestMemory::TrackAccess)
  std::vector<uint64_t> logged;   // pages the dirty log gave to someone else since (spares)
  // The fork point's copy of each page a reset brought back once (`cached`), at its
  // offset: later resets copy those locally, not from the keeper. Sparse, RAM-sized.
  uint8_t* mirror = nullptr;
  uint64_t mirror_size = 0;
  std::vector<uint64_t> cached;
  std::bitset<PVM_CHANNEL_SLOTS> slots;  // the channel slots open at the fork point
  uint32_t fork_slot = PVM_NO_CHANNEL;   // its channel to the forker
};

}  // namespace pvm::monitor
