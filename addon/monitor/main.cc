// pvm-monitor: the VMM of one pVM. Started by the host as
//   pvm-monitor --parent-pid=<pid> [--backend=NAME] [--stats] [--prepare-ram=BYTES]
// with the control socket on fd 3 (common/control.h). Boots the image the host sends,
// runs its single vCPU on the backend named (backends/registry.h; default kvm), serves
// hypercalls, reports console output, the exit and faults (vcpu_loop.h).
// Single-threaded on purpose: fork(2) of the monitor is how a pVM is forked (fork.cc).
// After its guest ends, a monitor with live children stays (small: no VM, no RAM) until
// they end, because they die with it (PR_SET_PDEATHSIG).
//
// This file is the process's lifetime: options, the backend, boot, Ready, confinement.
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/control.h"
#include "monitor/backends/registry.h"
#include "monitor/blocking.h"
#include "monitor/boot.h"
#include "monitor/ready.h"
#include "monitor/clock.h"
#include "monitor/fault.h"
#include "monitor/monitor.h"
#include "monitor/seccomp.h"
#include "monitor/signals.h"
#include "monitor/vcpu_loop.h"

namespace pvm::monitor {
namespace {

bool ParseOptions(int argc, char** argv, Options* out) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strncmp(a, "--parent-pid=", 13) == 0) {
      char* end;
      long pid = strtol(a + 13, &end, 10);
      if (*end != '\0' || pid <= 0) return false;
      out->parent_pid = static_cast<pid_t>(pid);
    } else if (strncmp(a, "--prepare-ram=", 14) == 0) {
      char* end;
      unsigned long long bytes = strtoull(a + 14, &end, 10);
      if (*end != '\0') return false;
      out->prepare_ram = bytes;
    } else if (strncmp(a, "--backend=", 10) == 0) {
      out->backend = a + 10;
    } else if (strcmp(a, "--seccomp-selftest") == 0) {
      out->seccomp_selftest = true;
    } else if (strcmp(a, "--stats") == 0) {
      out->stats = true;
    } else {
      return false;
    }
  }
  return out->parent_pid != 0 || out->seccomp_selftest;
}

// The backend --backend names, or why there is none (reported when Boot comes).
const BackendEntry* ChooseBackend(const Options& options, Failure* why) {
  const char* name = options.backend ? options.backend : kDefaultBackend;
  if (const BackendEntry* e = FindBackend(name)) return e;
  std::string built;
  for (const BackendEntry& e : BuiltBackends()) built += std::string(built.empty() ? "" : ", ") + e.name;
  Fail(why, ctl::ErrorCode::BackendUnavailable, 0, "backend '%s' is not known to this monitor (built: %s)", name,
       built.empty() ? "none" : built.c_str());
  return nullptr;
}

int Main(int argc, char** argv) {
  // Static: fork(2) copies it to the child, which carries on with it.
  static Monitor m;
  m.stats.monitor_start_ns = MonotonicNs();

  // stdin/stdout/stderr may come closed (a host whose own are close-on-exec): keep fds
  // 0-2 taken, or the backend's fds would land there and stderr writes go to them.
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR | O_CLOEXEC);
  }
  // Die with the host. If it died before prctl, we have been reparented already.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return 1;
  if (!ParseOptions(argc, argv, &m.options)) {
    fprintf(stderr, "usage: pvm-monitor --parent-pid=<pid> [--backend=NAME] [--stats]  (control socket on fd %d)\n",
            ctl::kControlFd);
    return 2;
  }
  if (m.options.seccomp_selftest) {
    // With --backend: that backend's additions and argument rules too (it is prepared first).
    if (!m.options.backend) return SeccompSelfTest({}, {});
    Failure why;
    const BackendEntry* entry = ChooseBackend(m.options, &why);
    if (entry) m.backend = entry->create();
    if (!entry || !m.backend->Prepare(&why)) {
      fprintf(stderr, "seccomp selftest: %s\n", why.message.c_str());
      return 2;
    }
    return SeccompSelfTest(entry->seccomp_additions, m.backend->seccomp_arg_rules());
  }
  ReadRaceDelayOption();
  if (getppid() != m.options.parent_pid) return 1;
  // Inherit nothing but stdio and the control socket.
  close_range(ctl::kControlFd + 1, ~0u, 0);

  Failure why;
  BootRequest request;
  // Build the VM while the host sends Boot (or while this monitor waits in the pool). A
  // failure here is reported when Boot comes, like any boot failure.
  Failure prepare_failure;
  const BackendEntry* entry = ChooseBackend(m.options, &prepare_failure);
  bool prepared = false;
  if (entry) {
    m.backend = entry->create();
    prepared = PrepareAhead(&m, &prepare_failure);
  }
  sigset_t kick = KickSignals();
  bool ok = m.control.ReceiveBoot(&request, &why);
  if (ok && !prepared) {
    why = prepare_failure;
    ok = false;
  }
  // Timings count from the Boot message when the monitor was started ahead of time.
  if (ok && request.boot.flags & ctl::kBootPooled) m.stats.monitor_start_ns = MonotonicNs();
  // A pooled monitor with its RAM ready set its signals up while it waited.
  bool signals_ready = m.prepared_ram != 0;
  ok = ok && Boot(request, &m, &why) &&
       (signals_ready || (SetUpSignals(&why) && m.control.EnableKick(&why) && m.backend->SetKickSignals(kick, &why)));
  if (!ok) {
    m.control.SendError(why);
    return 1;
  }

  m.control.SetOnBlocked([](bool blocked) { SetActivity(&m, blocked ? kActivityHostFull : kActivityRunning); });
  SendReady(&m, m.stats.monitor_start_ns);
  // A pooled monitor got the kick signal for the Boot message itself: not a reason to
  // leave the guest on its first entry.
  if (signals_ready) TakeKickSignals();
  // A request the host sent right after Ready may have had its kick taken just now.
  m.host.waiting = true;
  // The stdin spawn option: all of it, before the guest can look (or fork).
  if (request.boot.flags & ctl::kBootStdinWhole) m.control.ReceiveInputEnd(&m.host.requests);
  // From here on the monitor only runs its guest: confine it (seccomp.h).
  if (!Confine(entry->seccomp_additions, m.backend->guest_code_limit(), &why, m.backend->seccomp_arg_rules())) {
    m.control.SendExit(InternalFault(why.message.c_str(), 0));
    return 1;
  }
  RunGuest(&m);
}

}  // namespace
}  // namespace pvm::monitor

int main(int argc, char** argv) { return pvm::monitor::Main(argc, argv); }
