// Everything one pVM's monitor holds while it runs: fork(2) copies it to the child
// monitor, which then makes it its own (fork.cc). The parts only some modules use are
// structs of their own (Family, Spares).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/registry.h"
#include "monitor/backend.h"
#include "monitor/channels.h"
#include "monitor/console.h"
#include "monitor/control_channel.h"
#include "monitor/family.h"
#include "monitor/reset_state.h"
#include "monitor/signals.h"
#include "monitor/spare_state.h"

namespace pvm::monitor {

struct PvmIdentity {
  uint64_t id = 0;
  uint64_t parent_id = 0;
  uint64_t generation = 0;   // the boot-info page's: 0 at spawn, +1 in each fork child
  bool same_clones = false;  // kBootSameClones: children keep entropy and generation
};

struct Options {
  pid_t parent_pid = 0;
  bool stats = false;  // exit statistics on stderr at the end (for benchmarks, by hand)
  uint64_t prepare_ram = 0;  // a pooled monitor: RAM to have ready before Boot
  bool seccomp_selftest = false;
  const char* backend = nullptr;  // --backend=NAME; nullptr: kDefaultBackend
};

struct Stats {
  uint64_t monitor_start_ns = 0;
  uint64_t vm_ready_ns = 0;
  uint64_t first_exit_ns = 0;
  uint64_t hypercalls = 0;
};

// The host's requests (attach, exec, fork) and when the monitor looks at them (between
// exits: vcpu_loop.cc ServeHost; blocking hypercalls wake for them).
struct HostLink {
  HostRequests requests;  // not served yet
  bool waiting = false;   // the control socket may have something to read
  // The host changed what the guest sees (a channel or region given, an exec, a fork)
  // at an exit that was not the return of a WAIT -- e.g. a kick between the guest's last
  // look and its WAIT: the next WAIT returns at once, so that the guest looks again.
  bool wake_next_wait = false;
  bool wait_returned = false;  // the guest looks again after this ServeHost anyway
};

// The guest's standard input (STDIN_READ): bytes the host sent (Stdin messages), kept
// here until read. A fork child starts with a copy (fork(2) copies this struct).
struct StdinState {
  std::string bytes;
  size_t taken = 0;     // bytes[0, taken) were read already (dropped now and then)
  bool ended = true;    // no more will come (kBootStdin clears it until kStdinEnd)
};

struct Monitor {
  Options options;
  Stats stats;
  ControlChannel control{ctl::kControlFd};
  Registry registry;
  std::unique_ptr<Backend> backend;  // the one --backend named (backends/registry.h)
  std::unique_ptr<ChannelTable> channels;
  std::unique_ptr<Console> console;
  PvmIdentity identity;
  uint64_t ram_size = 0;
  uint64_t prepared_ram = 0;  // RAM (with page tables) made before Boot, 0 if none
  bool started = false;                // the guest's first exit has been reported
  bool linux_program = false;          // the image is a static Linux program (Ready.image_flags)
  std::span<const uint8_t> linux_personality;  // the embedded blob (set by Boot): exec loads it too
  HostLink host;                       // the host's requests and when to look at them
  bool has_env = false;                // kBootEnv: the environment the host gave (exec keeps it)
  std::vector<std::string> env;
  bool input_from_host = false;        // kBootStdin: a host fork's child gets an open stdin too
  StdinState input;                     // standard input: what the host wrote, not read yet
  sigset_t wait_mask;                  // the signal mask while blocked: lets the kick signals in

  Family family;   // family.h
  Spares spares;   // spare_state.h: warm fork spares
  ResetPoint reset;  // reset_state.h: a fork child's fork point
};

}  // namespace pvm::monitor
