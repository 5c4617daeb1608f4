// The monitor's side of the hypercalls in hypercalls/abi.json. A hypercall either
// returns a value to the guest (rax) or ends the pVM.
#pragma once

#include <cstdint>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor {

struct PvmIdentity {
  uint64_t id = 0;
  uint64_t parent_id = 0;
};

struct HypercallResult {
  bool ends = false;   // true: the pVM is over, send `exit`
  uint64_t value = 0;  // else: the guest's rax (a negative value is -PVM_Exxx)
  ctl::Exit exit{};
};

// exit.kind must be Hypercall. The console has already been drained at this exit.
HypercallResult HandleHypercall(const VcpuExit& exit, const PvmIdentity& identity, const GuestMemory& ram);

}  // namespace pvm::monitor
