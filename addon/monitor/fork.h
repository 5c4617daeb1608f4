// Forking a pVM (hypercalls/abi.json FORK; README.md "Design"):
// at an exit, make the parent<->child channel and the child's control socket, save the
// vCPU, fork(2) the single-threaded monitor; the child builds a new VM over the
// inherited copy-on-write RAM, restores the vCPU and runs; the parent reports the child
// to the host (ctl::Forked) and resumes.
#pragma once

#include <cstdint>

#include "monitor/monitor.h"
#include "pvm/abi.h"

namespace pvm::monitor {

// Children a guest may have forked and not yet waited for (WAITPID), like RLIMIT_NPROC.
constexpr size_t kMaxChildren = PVM_CHANNEL_SLOTS;

enum class ForkOrigin {
  Guest,  // FORK hypercall: the result goes to the argument block, 0 in the child's
  Host,   // ctl::ForkRequest: registers are left alone; the channel goes to the host
};

struct ForkResult {
  bool in_child = false;  // true: this is now the child's monitor
  int64_t value = 0;      // parent: child id, or -PVM_Exxx
};

// Call at an exit with the console drained. For a guest fork, channel_out_gpa is the
// guest's u32 for the slot (0: none; checked before anything is made).
ForkResult ForkPvm(Monitor* m, ForkOrigin origin, uint64_t tag, uint64_t channel_out_gpa);

// Warm spares (issue 7; README.md "Design"): a process forked from the
// monitor ahead of time that builds its VM and vCPU and waits. A fork then sends it only
// the vCPU state and the pages written since (KVM dirty log + what the monitor wrote)
// instead of forking. Call MakeSpare between exits (in_child: this is now the child the
// spare became, running on). KillSpare when the spare can no longer match (exec, end).
ForkResult MakeSpare(Monitor* m);
// A new spare is made this long after a fork or an exec, so the guest runs first.
constexpr uint64_t kSpareDelayNs = 1000000;
void KillSpare(Monitor* m);
// The pVM's shared regions changed (one made, given by the host or closed): a spare
// forked before has the old set, and a child made from it would lack a region or have
// one the parent closed. Kills it; a new one is made kSpareDelayNs later.
void RenewSpare(Monitor* m);
// The monitor wrote guest RAM the dirty log does not see.
void MarkMonitorWrite(Monitor* m, uint64_t gpa, uint64_t len);

}  // namespace pvm::monitor
