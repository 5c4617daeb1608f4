// Warm fork spares (README.md "Design"): a process forked from the monitor ahead of
// time that builds its VM and vCPU and waits. A fork then sends it only the vCPU state
// and the pages written since (the backend's DirtyLog + what the monitor wrote) instead
// of forking. Core, not a backend's: it needs only Backend::dirty_log(), SaveState's
// bytes and fork(2); a backend without a dirty log has no spares.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/control.h"
#include "monitor/fork.h"
#include "monitor/fork_child.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

// A new spare is made this long after a fork or an exec, so the guest runs first.
constexpr uint64_t kSpareDelayNs = 1000000;
// Forks closer together than this: a spare made between two of them is barely ready
// when used, and making it (a fork(2) of the monitor) competes for the CPU with the pVM
// and its children -- a fork-per-request server under load was slower with spares than
// without. The delay before the next spare then doubles, up to kSpareMaxDelayNs, so that
// spares are made again once forks are sparse; one wide gap puts it back to kSpareDelayNs.
constexpr uint64_t kSpareBusyGapNs = 4000000;
constexpr uint64_t kSpareMaxDelayNs = 128000000;

// Call between exits (in_child: this is now the child the spare became, running on).
ForkResult MakeSpare(Monitor* m);
// After a fork (through the spare or not): when to make the next spare (kSpareBusyGapNs).
void SparesAfterFork(Monitor* m);
// When the spare can no longer match (exec, end).
void KillSpare(Monitor* m);
// The pVM's shared regions changed (one made, given by the host or closed): a spare
// forked before has the old set, and a child made from it would lack a region or have
// one the parent closed. Kills it; a new one is made kSpareDelayNs later.
void RenewSpare(Monitor* m);
// After an exec: the spare holds the old image's RAM. A new one comes later.
void SparesAfterExec(Monitor* m);
// The monitor wrote guest RAM the dirty log does not see.
void MarkMonitorWrite(Monitor* m, uint64_t gpa, uint64_t len);
// A forked process lets go of its parent's spare (without signalling it).
void ForgetSpare(Monitor* m);

// For ForkPvm: the spare's ready-made channel (if the fork wants one) and control
// socket go to *p. The spare holds copies of them: a fork that needs a channel the
// spare lacks cannot go through it, and that spare is killed.
void TakeSparePieces(Monitor* m, bool wants_channel, ForkPieces* p);
// For ForkPvm: the fork through the spare, if there is one and little has changed since
// it was made. On success *pid and *pidfd are the child's; done says how it went.
void ForkViaSpare(Monitor* m, ForkOrigin origin, const ForkPieces& p, const SavedState& state,
                  uint64_t pause_start_ns, uint64_t channel_out_gpa, ctl::Forked* done, pid_t* pid, int* pidfd);

}  // namespace pvm::monitor
