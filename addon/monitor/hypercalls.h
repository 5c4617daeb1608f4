// The monitor's side of the hypercalls in hypercalls/abi.json, all through one table
// (HandleHypercall; EXEC is exec.cc's, FORK fork.cc's, the family's family.cc's). A
// hypercall returns a value to the guest, ends the pVM, or leaves nothing to complete.
#pragma once

#include <signal.h>

#include <cstdint>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

struct HypercallResult {
  enum class Then {
    Complete,  // give the guest `value` (Backend::CompleteHypercall)
    End,       // the pVM is over: `exit`
    None,      // nothing to complete: the vCPU is at a new image's entry (EXEC)
    InChild,   // this process is now a forked child, its vCPU restored (FORK)
  };
  Then then = Then::Complete;
  bool ends = false;   // then == End (kept for callers that only ask this)
  uint64_t value = 0;  // Complete: the guest's result (a negative value is -PVM_Exxx)
  ctl::Exit exit{};
};

// exit.kind must be Hypercall. The console has been drained. wait_mask is the signal
// mask while blocked (WAIT, WAITPID): it lets the kick signals in.
HypercallResult HandleHypercall(const VcpuExit& exit, Monitor* m, const sigset_t* wait_mask);

// EXEC (exec.cc) and FORK (fork.cc).
HypercallResult ExecHypercall(const VcpuExit& exit, Monitor* m);
HypercallResult ForkHypercall(const VcpuExit& exit, Monitor* m);

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
inline HypercallResult End(const ctl::Exit& exit) {
  HypercallResult r;
  r.then = HypercallResult::Then::End;
  r.ends = true;
  r.exit = exit;
  return r;
}
inline HypercallResult NoCompletion(HypercallResult::Then then) {
  HypercallResult r;
  r.then = then;
  return r;
}
inline HypercallResult Error(int guest_errno) {
  return Return(static_cast<uint64_t>(-static_cast<int64_t>(guest_errno)));
}
// Folds signals that arrived into the boot-info page's pending_signals, the only record
// of them once RAM exists (the guest may take them there itself: SIGNALS_IN_PAGE).
void CollectSignals(Monitor* m);
// The signals pending for the guest now (after CollectSignals).
uint64_t PendingSignals(const Monitor& m);
// This pVM ends: post CHLD to its parent pVM's monitor (which drops it unless the
// parent's guest catches it: boot-info caught_signals).
void PostChildEnded(Monitor* m);

}  // namespace pvm::monitor
