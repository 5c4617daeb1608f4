// What a fork (fork.cc) and a warm spare (spares.cc) share: the pieces the parent makes
// for a child, fork(2) with a pidfd, and the forked process's way to become the child.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "monitor/fork.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

// What parent and child share until they split.
struct ForkPieces {
  int slot = -1;
  NewChannel channel;
  int control[2] = {-1, -1};  // [0] the host's end, [1] the child's
  uint64_t child_id = 0;
};

void CloseFd(int* fd);
void DiscardPieces(ForkPieces* p);

// fork(2) that also gives the parent a pidfd of the child, opened before the child can
// have been reaped. In the child, *pidfd is -1; on failure -1 is returned with errno
// set. If the pidfd cannot be had (out of fds), the child is killed and *pidfd is -1.
pid_t ForkWithPidfd(int* pidfd);

// A process just forked from a pVM's monitor (a child, or a spare that will become one)
// lets go of what is the parent's, and the backend makes the VM its own
// (Backend::AfterForkInChild). It must not touch the parent's control socket.
void DetachFromParent(Monitor* m, pid_t parent_pid, bool can_report);

// The second half: the detached process becomes pVM p->child_id, its vCPU `state`, and
// tells the host it is Ready on control_fd.
void TakeOver(Monitor* m, ForkOrigin origin, pid_t parent_pid, int control_fd, ForkPieces* p, SavedState* state,
              uint64_t pause_start_ns, uint64_t channel_out_gpa);

}  // namespace pvm::monitor
