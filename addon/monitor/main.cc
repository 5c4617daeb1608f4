// pvm-monitor: the VMM of one pVM. Started by the host as
//   pvm-monitor --parent-pid=<pid> [--stats]
// with the control socket on fd 3 (common/control.h). Boots the image the host sends,
// runs its single vCPU, serves hypercalls, reports console output, the exit and faults.
// Single-threaded on purpose: fork(2) of the monitor is how a pVM is forked (fork.cc).
// After its guest ends, a monitor with live children stays (small: no VM, no RAM) until
// they end, because they die with it (PR_SET_PDEATHSIG).
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "common/control.h"
#include "common/wire_errno.h"
#include "monitor/backend.h"
#include "monitor/blocking.h"
#include "monitor/boot_setup.h"
#include "monitor/clock.h"
#include "monitor/console.h"
#include "monitor/control_channel.h"
#include "monitor/elf_loader.h"
#include "monitor/exec.h"
#include "monitor/fault.h"
#include "monitor/fork.h"
#include "monitor/monitor.h"
#include "monitor/hypercalls.h"
#include "monitor/seccomp.h"
#include "monitor/image_file.h"
#include "pvm/abi.h"

namespace pvm::monitor {
namespace {

// Kicks the vCPU out of the guest when the host writes to or closes the control socket.
constexpr int kKickSignal = SIGIO;
// Ends the guest gracefully (its children live on); SIGKILL ends the monitor and, by
// PR_SET_PDEATHSIG, every monitor forked from it.
constexpr int kTerminateSignal = SIGTERM;

// Set by signal handlers (and by TakeKickSignals): the pVM signal that ends the guest
// (PVM_SIGTERM or PVM_SIGKILL), and the ones left for the guest (bit n = signal n).
volatile sig_atomic_t g_terminate = 0;

uint64_t g_arrived = 0;

int PvmSignal() { return SIGRTMIN + ctl::kPvmSignalAfterRtMin; }

// A pVM signal arrived (its number is the real-time signal's value).
void NotePvmSignal(int sig) {
  if (sig == PVM_SIGTERM || sig == PVM_SIGKILL) g_terminate = sig;
  else if (sig > 0 && sig < 64) __atomic_or_fetch(&g_arrived, 1ull << sig, __ATOMIC_RELAXED);
}

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

void OnKick(int) {}  // only there to interrupt KVM_RUN
void OnTerminate(int) { g_terminate = PVM_SIGTERM; }
void OnPvmSignal(int, siginfo_t* info, void*) { NotePvmSignal(info->si_value.sival_int); }

// The signals that may interrupt the guest (blocked everywhere else in the monitor).
sigset_t KickSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kKickSignal);
  sigaddset(&set, kTerminateSignal);
  sigaddset(&set, PvmSignal());
  return set;
}

// KVM_RUN returns EINTR for a kick signal but leaves it pending (blocked again once the
// ioctl returns): take it here, or every later KVM_RUN would return at once.
void TakeKickSignals() {
  sigset_t kick = KickSignals();
  timespec zero{};
  siginfo_t info;
  int sig;
  while ((sig = sigtimedwait(&kick, &info, &zero)) > 0) {
    if (sig == kTerminateSignal) g_terminate = PVM_SIGTERM;
    if (sig == PvmSignal()) NotePvmSignal(info.si_value.sival_int);
  }
}

bool SetUpSignals(Failure* why) {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = OnKick;
  if (sigaction(kKickSignal, &sa, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigaction");
  sa.sa_handler = OnTerminate;
  if (sigaction(kTerminateSignal, &sa, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigaction");
  struct sigaction info_sa {};
  sigemptyset(&info_sa.sa_mask);
  info_sa.sa_sigaction = OnPvmSignal;
  info_sa.sa_flags = SA_SIGINFO;
  if (sigaction(PvmSignal(), &info_sa, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigaction");
  // Children (forked pVMs) are reaped by the kernel; the host watches them by pidfd.
  sa.sa_handler = SIG_IGN;
  if (sigaction(SIGCHLD, &sa, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigaction");
  sigset_t kick = KickSignals();
  if (sigprocmask(SIG_BLOCK, &kick, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigprocmask");
  return true;
}

// A pooled monitor runs the guest before it has an image, so that the spawn that takes
// it does not pay for first times: KVM's set-up on a vCPU's first entry (~0.2 ms on
// kvm_pvm) and the first guest touch of each page a small guest uses (~20 µs a page on
// kvm_pvm: boot info, arguments, console, stack top, image). A stub writes a zero to
// every page of each range, then exits with a hypercall instruction. RAM stays all zero.
bool WarmUpVcpu(Monitor* m, Failure* why) {
  static const uint8_t kStub[] = {
      0xc6, 0x06, 0x00,                          // 0: movb $0, (%rsi)
      0x48, 0x81, 0xc6, 0x00, 0x10, 0x00, 0x00,  // 3: add $4096, %rsi
      0x48, 0x39, 0xd6,                          // a: cmp %rdx, %rsi
      0x72, 0xf1,                                // d: jb 0
      0xe7, static_cast<uint8_t>(PVM_HC_PORT),   // f: out %eax, $port
  };
  // The stub sits in the console ring's last page, which no range below touches.
  const uint64_t stub_gpa = PVM_CONSOLE_GPA + PVM_CONSOLE_SIZE - PVM_PAGE_SIZE;
  const GuestMemory& ram = m->backend->memory();
  uint64_t top = ram.size();
  struct Range {
    uint64_t start, end;
  } ranges[] = {
      {PVM_BOOT_INFO_GPA, PVM_ARGS_GPA + PVM_PAGE_SIZE},
      {PVM_CONSOLE_GPA, PVM_CONSOLE_GPA + PVM_PAGE_SIZE},
      {PVM_IMAGE_BASE, PVM_IMAGE_BASE + (256 << 10)},
      {top - (64 << 10), top},
  };
  uint8_t* code = ram.At(stub_gpa, sizeof kStub);
  std::memcpy(code, kStub, sizeof kStub);
  bool ok = true;
  for (const Range& r : ranges) {
    EntryState at = BootControlState();
    at.rip = stub_gpa;
    at.rsi = r.start;
    at.rdx = r.end;
    VcpuExit exit;
    ok = m->backend->SetEntryRegs(at, why) && m->backend->Run(&exit, why) && m->backend->FinishExit(why);
    if (ok && exit.kind != VcpuExit::Kind::Hypercall) {
      ok = Fail(why, ctl::ErrorCode::Internal, 0, "warm-up run ended with exit kind %d", static_cast<int>(exit.kind));
    }
    if (!ok) break;
  }
  std::memset(code, 0, sizeof kStub);
  return ok;
}

// Everything from the Boot message to a vCPU at its first instruction.
bool Boot(const BootRequest& request, Monitor* m, Failure* why) {
  if (!CheckRamSize(request.boot.ram_size, &m->ram_size, why)) return false;
  BootParams params;
  params.id = request.boot.id;
  params.parent_id = request.boot.parent_id;
  params.args = request.args;
  params.exception_stack = m->backend->exception_stack_works();
  if (ArgsAreaBytes(params.args) > PVM_ARGS_SIZE) {
    return Fail(why, ctl::ErrorCode::BadConfig, E2BIG, "arguments take %" PRIu64 " bytes, the args area holds %" PRIu64,
                ArgsAreaBytes(params.args), static_cast<uint64_t>(PVM_ARGS_SIZE));
  }
  int rc = m->registry.Map(request.registry_fd);
  close(request.registry_fd);
  if (rc != 0) return Fail(why, ctl::ErrorCode::Internal, -rc, "cannot map the pVM registry");

  std::vector<uint8_t> image;
  if (!ReadImage(request.image_fd, ImageFileLimit(m->ram_size), &image, why)) return false;

  Backend* backend = m->backend.get();
  bool tables_ready = m->prepared_ram == m->ram_size;
  if (m->prepared_ram != 0 && !tables_ready) {
    // Pooled with another size: swap in RAM of the size asked for.
    GuestMemory fresh;
    if (!fresh.Allocate(m->ram_size, why) || !backend->ReplaceMemory(std::move(fresh), why)) return false;
  } else if (m->prepared_ram == 0 && !backend->Create(m->ram_size, why)) {
    return false;
  }
  LoadedImage loaded;
  if (!LoadElf(image, backend->memory().span(), &loaded, why)) return false;
  EntryState entry;
  if (!SetUpBoot(backend->memory().span(), loaded, params, &entry, why, tables_ready)) return false;
  // pVMs of one image share its read-only pages (best effort: the copy is already there).
  for (const FilePages& f : loaded.shareable) backend->memory().MapFile(f.gpa, request.image_fd, f.offset, f.length);
  close(request.image_fd);
  m->identity = PvmIdentity{request.boot.id, request.boot.parent_id};
  m->registry.Add(m->identity.id, m->identity.parent_id, getpid());
  m->child_exit_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m->child_exit_bell < 0) return FailErrno(why, ctl::ErrorCode::Internal, "eventfd");
  m->channels = std::make_unique<ChannelTable>(backend, &backend->memory());
  m->console = std::make_unique<Console>(backend->memory(), &m->control);
  if (request.boot.flags & ctl::kBootForkSpares) {
    if (!backend->SetDirtyLogging(true, why)) return false;
    m->spares_enabled = true;
    m->want_spare = true;
    m->want_spare_at_ns = 0;
  }
  // A pooled monitor set the control registers up already (they depend on nothing else).
  return tables_ready ? backend->SetEntryRegs(entry, why) : backend->SetEntryState(entry, why);
}

void PrintStats(const Monitor& m) {
  uint64_t now = MonotonicNs();
  fprintf(stderr,
          "pvm-monitor stats: kvm_pvm=%d exits=%" PRIu64 " hypercalls=%" PRIu64 " start->ready=%.1fus "
          "ready->first_exit=%.1fus start->end=%.1fus\n",
          m.backend->software_virtualization() ? 1 : 0, m.backend->exit_count(), m.stats.hypercalls,
          (m.stats.vm_ready_ns - m.stats.monitor_start_ns) / 1e3, (m.stats.first_exit_ns - m.stats.vm_ready_ns) / 1e3,
          (now - m.stats.monitor_start_ns) / 1e3);
}

// The pVM is over: report it, close its channel ends, give back the VM and its RAM,
// then stay only as long as forked children live (they die with this process).
[[noreturn]] void Finish(Monitor* m, const ctl::Exit& end) {
  KillSpare(m);  // it would keep this process waiting below
  // The registry first: a parent waiting for us reads it as soon as we ring it.
  // ExitKind has WAITPID's kind numbers (control_gen.h asserts it).
  m->registry.MarkEnded(m->identity.id, static_cast<uint32_t>(end.kind), end.code);
  if (m->parent_exit_bell >= 0) {
    uint64_t one = 1;
    (void)!write(m->parent_exit_bell, &one, sizeof one);
  }
  m->control.SendExit(end);
  if (m->options.stats) PrintStats(*m);
  m->channels->CloseAll();
  m->console.reset();
  m->channels.reset();
  m->backend.reset();
  close(m->control.fd());
  while (wait(nullptr) > 0 || errno == EINTR) {
  }
  _exit(0);
}

// A spare holds the old image's RAM: useless now.
void AfterExec(Monitor* m) {
  KillSpare(m);
  m->want_spare = m->spares_enabled;
  m->want_spare_at_ns = MonotonicNs() + kSpareDelayNs;
}

ctl::Exit Terminated() {
  ctl::Exit e{};
  e.kind = ctl::ExitKind::Killed;
  e.code = g_terminate;
  e.fault = ctl::FaultKind::None;
  e.vector = ctl::kNoVector;
  snprintf(e.reason, sizeof e.reason, "ended by signal %s", g_terminate == PVM_SIGKILL ? "KILL" : "TERM");
  return e;
}

// Serves what the host asked for since the last look. Only at a clean exit: the vCPU
// is not in the middle of a hypercall. A forked child returns from here too, with the
// parent's other requests dropped (they are the parent's to serve).
void ServeHost(Monitor* m) {
  m->host_waiting = false;
  RaceDelay();  // requests that arrive now must still be seen (by PollHost or their kick)
  HostRequests& requests = m->host_requests;
  m->control.PollHost(&requests);
  // The guest may be anywhere between looking (for a channel to accept, its fork
  // channel) and sleeping in WAIT: what is served now must wake that WAIT. Not needed
  // when the last WAIT just returned for this: the guest looks again after it.
  if (!requests.empty() && !m->wait_returned_for_host) m->wake_next_wait = true;
  m->wait_returned_for_host = false;
  for (auto& a : requests.attaches) {
    // A channel the host gives: to itself, or to another pVM of the family (checked there).
    ctl::Attached reply{};
    reply.tag = a.request.tag;
    int slot = m->channels->FreeSlot();
    ChannelEnd end;
    end.peer_id = a.request.peer_id;
    end.side = a.request.side == PVM_CHANNEL_SIDE_A ? PVM_CHANNEL_SIDE_A : PVM_CHANNEL_SIDE_B;
    end.memfd = a.fds[0];
    end.own_doorbell = a.fds[1];
    end.peer_doorbell = a.fds[2];
    end.peer_pidfd = a.fds[3];
    a.fds[0] = a.fds[1] = a.fds[2] = a.fds[3] = -1;
    Failure why;
    bool shm = a.request.flags & ctl::kAttachShm;
    if (slot < 0) {
      reply.error = -PVM_EAGAIN;
      ChannelTable::Discard(&end);
    } else if (shm ? !m->channels->AttachShmFd(static_cast<uint32_t>(slot), end.memfd, &why)
                   : !m->channels->AttachShared(static_cast<uint32_t>(slot), end, &why)) {
      reply.error = WireErrno(why.sys_errno, PVM_ENOMEM);
    } else {
      reply.slot = static_cast<uint32_t>(slot);
      if (shm) RenewSpare(m);
    }
    m->control.SendAttached(reply);
  }
  requests.attaches.clear();
  for (auto& e : requests.execs) {
    ctl::Execed done{};
    done.tag = e.tag;
    done.start_ns = MonotonicNs();
    ExecOutcome o = ExecPvm(m, e.image_fd, e.ram_size, e.args);
    e.image_fd = -1;
    done.error = o.error;
    done.code = o.code;
    done.ready_ns = MonotonicNs();
    m->control.SendExeced(done, o.why);
    if (o.ends_pvm) Finish(m, InternalFault(o.why.c_str(), 0));
    if (o.error == 0) AfterExec(m);
  }
  requests.execs.clear();
  while (!requests.forks.empty()) {
    uint64_t tag = requests.forks.front();
    requests.forks.erase(requests.forks.begin());
    ForkResult r = ForkPvm(m, ForkOrigin::Host, tag, 0);
    if (r.in_child) return;  // the requests were cleared in the child
  }
}

// The vCPU loop: run, drain the console, handle the exit; until the pVM ends.
[[noreturn]] void RunGuest(Monitor* m) {
  Failure why;
  sigset_t& wait_mask = m->wait_mask;
  sigprocmask(SIG_SETMASK, nullptr, &wait_mask);
  sigset_t kick = KickSignals();
  for (int sig = 1; sig < NSIG; sig++) {
    if (sigismember(&kick, sig) == 1) sigdelset(&wait_mask, sig);
  }
  for (;;) {
    if (g_terminate) Finish(m, Terminated());
    // The host's requests first: those that came while the monitor was busy (their kick
    // was taken with another one, or came before the socket could kick: a new child's
    // socket, a pooled monitor's first moments) would otherwise wait for the guest's next
    // WAIT, and a guest that computes never makes one.
    if (m->host_waiting) {
      ServeHost(m);
      continue;  // a host fork may have made this process the child
    }
    // A warm spare is made between exits, when the last fork is a little behind us.
    if (m->want_spare && MonotonicNs() >= m->want_spare_at_ns && MakeSpare(m).in_child) continue;
    VcpuExit exit;
    Backend* backend = m->backend.get();
    if (!backend->Run(&exit, &why)) {
      m->console->Drain();
      Finish(m, InternalFault(why.message.c_str(), exit.rip));
    }
    if (exit.kind == VcpuExit::Kind::Interrupted) {
      TakeKickSignals();
      m->console->Drain();
      m->host_waiting = true;  // a kick: most likely the host wrote (served at the top)
      CollectSignals(m);
      continue;
    }
    if (!m->started) {
      m->stats.first_exit_ns = MonotonicNs();
      m->control.SendStarted(m->stats.first_exit_ns);
      m->started = true;
    }
    m->console->Drain();  // first, so output before a fault is never lost
    if (exit.kind != VcpuExit::Kind::Hypercall) {
      Finish(m, DescribeFault(ResolveFaultReport(exit, backend->memory()), m->ram_size));
    }
    m->stats.hypercalls++;
    if (exit.nr == PVM_HC_EXEC) {
      ctl::Execed done{};
      done.start_ns = MonotonicNs();
      ExecOutcome o = GuestExec(m, exit);
      if (o.ends_pvm) Finish(m, InternalFault(o.why.c_str(), exit.rip));
      if (o.error == 0) {
        done.ready_ns = MonotonicNs();
        m->control.SendExeced(done);
        AfterExec(m);
        continue;  // the vCPU is at the new image's entry: nothing to complete
      }
      if (!backend->CompleteHypercall(static_cast<uint64_t>(o.error), &why)) {
        Finish(m, InternalFault(why.message.c_str(), exit.rip));
      }
    } else if (exit.nr == PVM_HC_FORK) {
      ForkResult r = ForkPvm(m, ForkOrigin::Guest, 0, exit.args[0]);
      // The child's vCPU was restored with rax = 0 already; its registers are not to be
      // touched through the old exit.
      if (r.in_child) continue;
      if (!backend->CompleteHypercall(static_cast<uint64_t>(r.value), &why)) {
        Finish(m, InternalFault(why.message.c_str(), exit.rip));
      }
    } else {
      HypercallResult result = HandleHypercall(exit, m, &wait_mask);
      if (result.ends) Finish(m, result.exit);
      if (!backend->CompleteHypercall(result.value, &why)) Finish(m, InternalFault(why.message.c_str(), exit.rip));
    }
    CollectSignals(m);
  }
}

int Main(int argc, char** argv) {
  // Static: fork(2) copies it to the child, which carries on with it.
  static Monitor m;
  m.stats.monitor_start_ns = MonotonicNs();

  // stdin/stdout/stderr may come closed (a host whose own are close-on-exec): keep fds
  // 0-2 taken, or /dev/kvm and the VM would land there and stderr writes go to KVM.
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR | O_CLOEXEC);
  }
  // Die with the host. If it died before prctl, we have been reparented already.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return 1;
  if (!ParseOptions(argc, argv, &m.options)) {
    fprintf(stderr, "usage: pvm-monitor --parent-pid=<pid> [--stats]  (control socket on fd %d)\n", ctl::kControlFd);
    return 2;
  }
  if (m.options.seccomp_selftest) return SeccompSelfTest();
  ReadRaceDelayOption();
  if (getppid() != m.options.parent_pid) return 1;
  // Inherit nothing but stdio and the control socket.
  close_range(ctl::kControlFd + 1, ~0u, 0);

  Failure why;
  BootRequest request;
  m.backend = CreateKvmBackend();
  // Build the VM while the host sends Boot (or while this monitor waits in the pool). A
  // failure here is reported when Boot comes, like any boot failure.
  Failure prepare_failure;
  bool prepared = m.backend->Prepare(&prepare_failure);
  if (prepared && m.options.prepare_ram != 0) {
    // Pooled: RAM and its page tables too, as far as the size can be guessed.
    uint64_t size = 0;
    prepared = CheckRamSize(m.options.prepare_ram, &size, &prepare_failure) &&
               m.backend->Create(size, &prepare_failure);
    if (prepared) {
      WriteBootTables(m.backend->memory().span(), m.backend->exception_stack_works());
      EntryState control = BootControlState();
      sigset_t kick_set = KickSignals();
      prepared = m.backend->SetEntryState(control, &prepare_failure) && SetUpSignals(&prepare_failure) &&
                 m.control.EnableKick(&prepare_failure) && WarmUpVcpu(&m, &prepare_failure) &&
                 m.backend->SetKickSignals(kick_set, &prepare_failure);
      if (prepared) m.prepared_ram = size;
    }
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
  m.stats.vm_ready_ns = MonotonicNs();
  ctl::Ready ready{};
  ready.pid = static_cast<uint64_t>(getpid());
  ready.monitor_start_ns = m.stats.monitor_start_ns;
  ready.vm_ready_ns = m.stats.vm_ready_ns;
  std::snprintf(ready.backend, sizeof ready.backend, "%s", m.backend->name());
  ready.backend_flags = m.backend->software_virtualization() ? ctl::kReadyKvmPvm : 0;
  m.control.SendReady(ready);
  // A pooled monitor got the kick signal for the Boot message itself: not a reason to
  // leave the guest on its first entry.
  if (signals_ready) TakeKickSignals();
  // A request the host sent right after Ready may have had its kick taken just now.
  m.host_waiting = true;
  // From here on the monitor only runs its guest: confine it (seccomp.h).
  if (!Confine(&why)) {
    m.control.SendExit(InternalFault(why.message.c_str(), 0));
    return 1;
  }
  RunGuest(&m);
}

}  // namespace

uint64_t TakeArrivedSignals() { return __atomic_exchange_n(&g_arrived, 0, __ATOMIC_RELAXED); }
bool TerminateRequested() { return g_terminate != 0; }

}  // namespace pvm::monitor

int main(int argc, char** argv) { return pvm::monitor::Main(argc, argv); }
