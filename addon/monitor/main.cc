// pvm-monitor: the VMM of one pVM. Started by the host as
//   pvm-monitor --parent-pid=<pid> [--stats]
// with the control socket on fd 3 (common/control.h). Boots the image the host sends,
// runs its single vCPU, serves hypercalls, reports console output, the exit and faults.
// Single-threaded on purpose: fork(2) of the monitor is how a pVM will be forked.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/boot_setup.h"
#include "monitor/clock.h"
#include "monitor/console.h"
#include "monitor/control_channel.h"
#include "monitor/elf_loader.h"
#include "monitor/fault.h"
#include "monitor/hypercalls.h"
#include "monitor/image_file.h"
#include "pvm/abi.h"

namespace pvm::monitor {
namespace {

// Kicks the vCPU out of the guest when the host writes to or closes the control socket.
constexpr int kKickSignal = SIGIO;
// Image files above this are refused outright (besides RAM, it bounds what we read).
constexpr uint64_t kMinImageFileLimit = 64ull << 20;

struct Options {
  pid_t parent_pid = 0;
  bool stats = false;  // exit statistics on stderr at the end (for benchmarks, by hand)
};

struct Stats {
  uint64_t monitor_start_ns = 0;
  uint64_t vm_ready_ns = 0;
  uint64_t first_exit_ns = 0;
  uint64_t hypercalls = 0;
};

bool ParseOptions(int argc, char** argv, Options* out) {
  for (int i = 1; i < argc; i++) {
    const char* a = argv[i];
    if (strncmp(a, "--parent-pid=", 13) == 0) {
      char* end;
      long pid = strtol(a + 13, &end, 10);
      if (*end != '\0' || pid <= 0) return false;
      out->parent_pid = static_cast<pid_t>(pid);
    } else if (strcmp(a, "--stats") == 0) {
      out->stats = true;
    } else {
      return false;
    }
  }
  return out->parent_pid != 0;
}

void OnKick(int) {}  // only there to interrupt KVM_RUN

bool SetUpKickSignal(Failure* why) {
  // Blocked in the monitor; the backend lets it through only while the guest runs.
  struct sigaction sa {};
  sa.sa_handler = OnKick;
  sigemptyset(&sa.sa_mask);
  if (sigaction(kKickSignal, &sa, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigaction");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kKickSignal);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigprocmask");
  return true;
}

// RAM size from the host, checked and rounded up to whole 2 MiB pages.
bool CheckRamSize(uint64_t requested, uint64_t* out, Failure* why) {
  if (requested < PVM_MIN_RAM || requested > PVM_MAX_RAM) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM of %s is outside [%s, %s]", SizeText(requested).c_str(),
                SizeText(PVM_MIN_RAM).c_str(), SizeText(PVM_MAX_RAM).c_str());
  }
  *out = (requested + kHugePage - 1) & ~(kHugePage - 1);
  return true;
}

// Everything from the Boot message to a vCPU at its first instruction.
bool Boot(const BootRequest& request, Backend* backend, uint64_t* ram_size, Failure* why) {
  if (!CheckRamSize(request.boot.ram_size, ram_size, why)) return false;
  BootParams params;
  params.id = request.boot.id;
  params.parent_id = request.boot.parent_id;
  params.args = request.args;
  if (ArgsAreaBytes(params.args) > PVM_ARGS_SIZE) {
    return Fail(why, ctl::ErrorCode::BadConfig, E2BIG, "arguments take %" PRIu64 " bytes, the args area holds %" PRIu64,
                ArgsAreaBytes(params.args), static_cast<uint64_t>(PVM_ARGS_SIZE));
  }

  std::vector<uint8_t> image;
  uint64_t file_limit = *ram_size > kMinImageFileLimit ? *ram_size : kMinImageFileLimit;
  if (!ReadImage(request.image_fd, file_limit, &image, why)) return false;
  close(request.image_fd);

  if (!backend->Create(*ram_size, why)) return false;
  LoadedImage loaded;
  if (!LoadElf(image, backend->memory().span(), &loaded, why)) return false;
  EntryState entry;
  if (!SetUpBoot(backend->memory().span(), loaded, params, &entry, why)) return false;
  return backend->SetEntryState(entry, why);
}

[[noreturn]] void Finish(ControlChannel* control, const ctl::Exit& end, const Backend& backend, const Options& options,
                         const Stats& stats) {
  control->SendExit(end);
  if (options.stats) {
    uint64_t now = MonotonicNs();
    fprintf(stderr,
            "pvm-monitor stats: kvm_pvm=%d exits=%" PRIu64 " hypercalls=%" PRIu64 " start->ready=%.1fus "
            "ready->first_exit=%.1fus start->end=%.1fus\n",
            backend.software_virtualization() ? 1 : 0, backend.exit_count(), stats.hypercalls,
            (stats.vm_ready_ns - stats.monitor_start_ns) / 1e3, (stats.first_exit_ns - stats.vm_ready_ns) / 1e3,
            (now - stats.monitor_start_ns) / 1e3);
  }
  std::exit(0);
}

// The vCPU loop: run, drain the console, handle the exit; until the pVM ends.
[[noreturn]] void RunGuest(Backend* backend, ControlChannel* control, const PvmIdentity& identity,
                           uint64_t ram_size, const Options& options, Stats* stats) {
  Console console(backend->memory(), control);
  Failure why;
  bool started = false;
  for (;;) {
    VcpuExit exit;
    if (!backend->Run(&exit, &why)) {
      console.Drain();
      Finish(control, InternalFault(why.message.c_str(), exit.rip), *backend, options, *stats);
    }
    if (exit.kind == VcpuExit::Kind::Interrupted) {
      console.Drain();
      control->PollHost();
      continue;
    }
    if (!started) {
      stats->first_exit_ns = MonotonicNs();
      control->SendStarted(stats->first_exit_ns);
      started = true;
    }
    console.Drain();  // first, so output before a fault is never lost
    if (exit.kind != VcpuExit::Kind::Hypercall) {
      Finish(control, DescribeFault(exit, ram_size), *backend, options, *stats);
    }
    stats->hypercalls++;
    HypercallResult result = HandleHypercall(exit, identity, backend->memory());
    if (result.ends) Finish(control, result.exit, *backend, options, *stats);
    if (!backend->CompleteHypercall(result.value, &why)) {
      Finish(control, InternalFault(why.message.c_str(), exit.rip), *backend, options, *stats);
    }
  }
}

int Main(int argc, char** argv) {
  Stats stats;
  stats.monitor_start_ns = MonotonicNs();

  // Die with the host. If it died before prctl, we have been reparented already.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return 1;
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    fprintf(stderr, "usage: pvm-monitor --parent-pid=<pid> [--stats]  (control socket on fd %d)\n", ctl::kControlFd);
    return 2;
  }
  if (getppid() != options.parent_pid) return 1;
  // Inherit nothing but stdio and the control socket.
  close_range(ctl::kControlFd + 1, ~0u, 0);

  ControlChannel control(ctl::kControlFd);
  Failure why;
  BootRequest request;
  std::unique_ptr<Backend> backend = CreateKvmBackend();
  uint64_t ram_size = 0;
  sigset_t kick;
  sigemptyset(&kick);
  sigaddset(&kick, kKickSignal);
  bool ok = control.ReceiveBoot(&request, &why) && Boot(request, backend.get(), &ram_size, &why) &&
            SetUpKickSignal(&why) && control.EnableKick(&why) && backend->SetKickSignals(kick, &why);
  if (!ok) {
    control.SendError(why);
    return 1;
  }

  stats.vm_ready_ns = MonotonicNs();
  ctl::Ready ready{};
  ready.pid = static_cast<uint64_t>(getpid());
  ready.monitor_start_ns = stats.monitor_start_ns;
  ready.vm_ready_ns = stats.vm_ready_ns;
  ready.kvm_pvm = backend->software_virtualization() ? 1 : 0;
  control.SendReady(ready);

  PvmIdentity identity{request.boot.id, request.boot.parent_id};
  RunGuest(backend.get(), &control, identity, ram_size, options, &stats);
}

}  // namespace
}  // namespace pvm::monitor

int main(int argc, char** argv) { return pvm::monitor::Main(argc, argv); }
