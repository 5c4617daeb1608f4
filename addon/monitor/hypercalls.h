// The monitor's side of the hypercalls in hypercalls/abi.json. A hypercall either
// returns a value to the guest (rax) or ends the pVM.
#pragma once

#include <cstdint>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/channels.h"
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

// What hypercalls may touch besides the exit itself.
struct HypercallContext {
  const PvmIdentity* identity;
  const GuestMemory* ram;
  ChannelTable* channels;
  int control_fd;             // WAIT also wakes when the host writes here
  const sigset_t* wait_mask;  // signal mask while blocked in WAIT (lets kick signals in)
  bool* host_waiting;         // set when WAIT returned because of the host
};

// exit.kind must be Hypercall, and not FORK (main loop). The console has been drained.
HypercallResult HandleHypercall(const VcpuExit& exit, const HypercallContext& context);

}  // namespace pvm::monitor
