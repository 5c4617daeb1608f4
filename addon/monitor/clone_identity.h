// What makes each clone of a pVM unique (abi.json bootInfo: generation, entropy): fresh
// random bytes at boot, exec and in every fork child, and a generation one more than the
// parent's, so that two children of one parent never draw the same random numbers and a
// guest can tell it has been cloned without an exit. kBootSameClones turns it off.
#pragma once

#include <cstdint>

#include "monitor/guest_memory.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

// 32 bytes from the kernel's random source (getrandom; never blocks once the pool is up).
void FreshEntropy(uint64_t out[4]);

// In a fork child, its boot-info page before it first runs: generation + 1 and fresh
// entropy, unless the pVM was spawned with uniqueClones: false; and always a new clock
// epoch (its vCPU is not the one the guest's clock was set against).
void MakeCloneUnique(Monitor* m, const GuestMemory& ram);

}  // namespace pvm::monitor
