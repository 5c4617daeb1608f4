// Forking a pVM (hypercalls/abi.json FORK; README.md "Design"):
// at an exit, make the parent<->child channel and the child's control socket, save the
// vCPU, fork(2) the single-threaded monitor (or activate a warm spare, spares.h); the
// backend clones the VM around the fork (Backend::BeforeFork / AfterForkInChild /
// AfterForkInParent); the child restores the vCPU and runs; the parent reports the child
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

}  // namespace pvm::monitor
