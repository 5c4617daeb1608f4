// Reset: rewinds a fork child to its fork point in place, without a new monitor or VM
// (README "Reset", docs/architecture.md). At the fork the child forks a keeper: a
// process that only sleeps, holding guest RAM as it was at the fork point (copy-on-write,
// so it costs only the pages written since). A reset copies back just the pages written
// since -- the backend's dirty log (the guest's writes) plus the pages the monitor reached
// (GuestMemory::TrackAccess) -- from the keeper in one process_vm_readv, and puts back the
// vCPU state saved at the fork. Needs Backend::dirty_log() (kvm: KVM's; process:
// userfaultfd write-protect, Linux 6.10+): without one a reset answers ENOSYS.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "monitor/backend.h"
#include "monitor/hypercalls.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

// In the fork child (TakeOver), once its RAM and boot-info page are final and before it
// first runs: dirty log on, keeper forked, `state` kept. fork_slot: its channel to the
// forker (PVM_NO_CHANNEL: none). Best effort: if it fails, a reset answers EINVAL.
void ArmResetPoint(Monitor* m, const SavedState& state, uint32_t fork_slot);
// A forked process lets go of its parent's reset point (the keeper stays the parent's).
void ForgetResetPoint(Monitor* m);
// After an exec, or at the end: the keeper is killed; a reset answers EINVAL from now on.
void DropResetPoint(Monitor* m);
// The dirty log's Take for its other users (spares): the pages it hands out stay on
// record for the next reset.
bool TakeDirty(Monitor* m, std::vector<uint64_t>* pages, Failure* why);

struct ResetOutcome {
  int64_t error = 0;   // 0 or -PVM_E*: EINVAL (no fork point), ENOSYS (no dirty log)
  uint64_t pages = 0;  // pages copied back
  bool fatal = false;  // failed half way: the pVM must end (why)
  std::string why;
};
// Between exits (the vCPU state is replaced wholesale). A failure half way (the keeper
// gone) is fatal: its memory would be neither the old nor the new; the caller ends it.
ResetOutcome ResetPvm(Monitor* m);
// The host's Reset: ResetPvm, answered by ResetDone (not when fatal).
ResetOutcome ServeReset(Monitor* m, uint64_t tag);
// RESET: does not return to the guest on success (the vCPU is at its fork point).
HypercallResult ResetHypercall(const VcpuExit& exit, Monitor* m);

}  // namespace pvm::monitor
