// Starting a monitor process from the host (a multi-threaded Node process).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace pvm {

struct MonitorProcess {
  pid_t pid = -1;
  int control = -1;  // host end of the control socket (non-blocking, close-on-exec)
  int pidfd = -1;    // pidfd of the monitor (close-on-exec)
};

// Starts `monitor_path` with the other end of a fresh SOCK_SEQPACKET socketpair on
// ctl::kControlFd, stdin on /dev/null, stdout/stderr inherited. Returns 0 or -errno.
// prepare_ram > 0 (a pooled monitor): it also gets guest RAM of that size and its page
// tables ready while it waits for Boot (a Boot with another size still works).
// `backend` names the backend it runs pVMs on (--backend=NAME).
int StartMonitor(const std::string& monitor_path, const std::string& backend, MonitorProcess* out,
                 uint64_t prepare_ram = 0);

}  // namespace pvm
