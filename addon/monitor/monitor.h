// Everything one pVM's monitor holds while it runs, in one place: fork(2) copies it to
// the child monitor, which then makes it its own (fork.cc).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/registry.h"
#include "monitor/backend.h"
#include "monitor/channels.h"
#include "monitor/console.h"
#include "monitor/control_channel.h"

namespace pvm::monitor {

struct PvmIdentity {
  uint64_t id = 0;
  uint64_t parent_id = 0;
};

struct Options {
  pid_t parent_pid = 0;
  bool stats = false;  // exit statistics on stderr at the end (for benchmarks, by hand)
  uint64_t prepare_ram = 0;  // a pooled monitor: RAM to have ready before Boot
  bool seccomp_selftest = false;
};

struct Stats {
  uint64_t monitor_start_ns = 0;
  uint64_t vm_ready_ns = 0;
  uint64_t first_exit_ns = 0;
  uint64_t hypercalls = 0;
};

struct Monitor {
  Options options;
  Stats stats;
  ControlChannel control{ctl::kControlFd};
  Registry registry;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<ChannelTable> channels;
  std::unique_ptr<Console> console;
  PvmIdentity identity;
  uint64_t ram_size = 0;
  uint64_t prepared_ram = 0;  // RAM (with page tables) made before Boot, 0 if none
  bool started = false;                // the guest's first exit has been reported
  HostRequests host_requests;          // not served yet
  bool host_waiting = false;           // the control socket may have something to read
  // The host changed what the guest sees (a channel or region given, an exec, a fork)
  // at an exit that was not the return of a WAIT -- e.g. a kick between the guest's last
  // look and its WAIT: the next WAIT returns at once, so that the guest looks again.
  bool wake_next_wait = false;
  bool wait_returned_for_host = false;  // the guest looks again after this ServeHost anyway
  sigset_t wait_mask;                  // the signal mask while blocked: lets the kick signals in

  // The family (WAITPID, KILL).
  struct Child {
    uint64_t id;
    int pidfd;  // fires when its monitor process is gone (a crash, if it did not report)
  };
  std::vector<Child> children;  // forked by this pVM and not waited for yet
  int child_exit_bell = -1;     // eventfd this pVM's children ring when they end
  int parent_exit_bell = -1;    // the parent's child_exit_bell (forked pVMs only)
  uint64_t pending_signals = 0; // pVM signals for the guest (bit n = signal n)

  // Warm spares (fork.h).
  struct Spare {
    pid_t pid = -1;
    int pidfd = -1;
    int sock = -1;  // Activate goes here
    uint64_t made_ns = 0;
    // Made with the spare, off the fork's critical path: the fork's channel and the
    // child's control socket ([0] the host's end, [1] the child's).
    NewChannel channel;
    int control[2] = {-1, -1};
  };
  bool spares_enabled = false;
  bool want_spare = false;           // make one at the next chance after want_spare_at_ns
  uint64_t want_spare_at_ns = 0;
  Spare spare;
  uint8_t* spare_xfer = nullptr;     // shared with the spare: vCPU state and pages (one per spare)
  std::vector<uint64_t> monitor_dirty;  // pages the monitor wrote since the spare was made
};

// Pending pVM signals arrive in a signal handler: this collects them (see main.cc).
uint64_t TakeArrivedSignals();
// True once the pVM has been told to end (SIGTERM, or a family KILL with TERM/KILL): a
// blocked hypercall returns at once, and the vCPU loop ends the pVM.
bool TerminateRequested();

}  // namespace pvm::monitor
