// The monitor's side of the hypercalls in hypercalls/abi.json (FORK is fork.cc's). A
// hypercall either returns a value to the guest (the argument block's result) or ends the pVM.
#pragma once

#include <signal.h>

#include <cstdint>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

struct HypercallResult {
  bool ends = false;   // true: the pVM is over, send `exit`
  uint64_t value = 0;  // else: the result the guest sees (a negative value is -PVM_Exxx)
  ctl::Exit exit{};
};

// exit.kind must be Hypercall, and not FORK. The console has been drained. wait_mask is
// the signal mask while blocked (WAIT, WAITPID): it lets the kick signals in.
HypercallResult HandleHypercall(const VcpuExit& exit, Monitor* m, const sigset_t* wait_mask);

// Family hypercalls (family.cc).
HypercallResult Kill(const VcpuExit& exit, Monitor* m);
HypercallResult WaitPid(const VcpuExit& exit, Monitor* m, const sigset_t* wait_mask);
HypercallResult TakeSignals(Monitor* m);

// Helpers both files use.
inline HypercallResult Return(uint64_t value) {
  HypercallResult r;
  r.value = value;
  return r;
}
inline HypercallResult Error(int guest_errno) {
  return Return(static_cast<uint64_t>(-static_cast<int64_t>(guest_errno)));
}
// Folds signals that arrived into m->pending_signals and the boot-info copy.
void CollectSignals(Monitor* m);

}  // namespace pvm::monitor
