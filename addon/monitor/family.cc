// KILL, WAITPID and SIGNALS: the family's hypercalls. Who is family comes from the
// host-wide registry (common/registry.h); the checks are the monitor's, never the guest's.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "monitor/blocking.h"
#include "monitor/fork.h"
#include "monitor/spares.h"
#include "monitor/hypercalls.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// TERM, KILL, USR1, USR2, and the other numbers a Linux program's kill() carries.
bool IsPvmSignal(uint64_t sig) { return sig >= 1 && sig <= 63; }

constexpr uint64_t Bit(int sig) { return 1ull << sig; }
// Left for the guest even when it does not catch them (the runtime's pvm_signal).
constexpr uint64_t kForGuest = Bit(PVM_SIGUSR1) | Bit(PVM_SIGUSR2);
// Linux's signals whose default is to do nothing: CHLD, CONT, URG, WINCH.
constexpr uint64_t kDropped = Bit(PVM_SIGCHLD) | Bit(18) | Bit(23) | Bit(28);

// How a child ended, as WAITPID writes it (abi.json waitStatus).
using ChildStatus = pvm_child_status;

// Child c has ended if its monitor said so in the registry, or if its monitor process
// is gone without saying (it crashed or was SIGKILLed).
bool Ended(const Monitor& m, const Family::Child& c, ChildStatus* out) {
  const RegistryEntry* e = m.registry.Find(c.id);
  if (e && __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) == kRegistryEnded) {
    *out = ChildStatus{e->exit_kind, e->exit_code};
    return true;
  }
  pollfd p{c.pidfd, POLLIN, 0};
  if (poll(&p, 1, 0) == 1) {
    *out = ChildStatus{PVM_WAIT_KILLED, PVM_SIGKILL};
    return true;
  }
  return false;
}

}  // namespace

namespace {

// The boot-info page's pending_signals word (8-byte aligned by the layout), or null
// while there is no RAM. The guest takes signals there with an atomic exchange, so the
// monitor only ever ORs into it or exchanges it too.
uint64_t* SignalWord(const Monitor& m) {
  return reinterpret_cast<uint64_t*>(
      m.backend ? m.backend->memory().At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_PENDING_SIGNALS_OFFSET, 8) : nullptr);
}

// What the guest takes itself (boot-info caught_signals), 0 while there is no RAM.
uint64_t CaughtSignals(const Monitor& m) {
  const uint64_t* word = reinterpret_cast<const uint64_t*>(
      m.backend ? m.backend->memory().At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_CAUGHT_SIGNALS_OFFSET, 8) : nullptr);
  return word ? __atomic_load_n(word, __ATOMIC_RELAXED) & ~Bit(PVM_SIGKILL) : 0;
}

// Arrived signals the guest does not catch get the monitor's default: USR1/USR2 stay
// pending, the do-nothing ones go, the rest end the pVM. Returns those left pending.
uint64_t ApplyDefaults(const Monitor& m, uint64_t arrived) {
  uint64_t caught = CaughtSignals(m);
  uint64_t ending = arrived & ~caught & ~kForGuest & ~kDropped;
  if (ending) RequestTerminate(__builtin_ctzll(ending));
  return arrived & (caught | kForGuest);
}

}  // namespace

void CollectSignals(Monitor* m) {
  uint64_t arrived = TakeArrivedSignals() | m->family.pending_signals;
  if (!arrived) return;
  arrived = ApplyDefaults(*m, arrived);
  if (!arrived) {
    m->family.pending_signals = 0;
    return;
  }
  uint64_t* word = SignalWord(*m);
  if (!word) {
    m->family.pending_signals = arrived;
    return;
  }
  m->family.pending_signals = 0;
  __atomic_fetch_or(word, arrived, __ATOMIC_SEQ_CST);
}

uint64_t PendingSignals(const Monitor& m) {
  const uint64_t* word = SignalWord(m);
  return (word ? __atomic_load_n(word, __ATOMIC_SEQ_CST) : 0) | m.family.pending_signals;
}

HypercallResult TakeSignals(Monitor* m) {
  CollectSignals(m);
  uint64_t* word = SignalWord(*m);
  return Return(word ? __atomic_exchange_n(word, 0, __ATOMIC_SEQ_CST) : 0);
}

HypercallResult Kill(const VcpuExit& x, Monitor* m) {
  uint64_t target = x.args[0];
  uint64_t sig = x.args[1];
  if (!IsPvmSignal(sig)) return Error(PVM_EINVAL);
  const RegistryEntry* e = m->registry.Find(target);
  if (!e || __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != kRegistryRunning) return Error(PVM_ESRCH);
  if (!m->registry.Related(m->identity.id, target)) return Error(PVM_EPERM);
  pid_t pid = __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE);
  if (pid <= 0) return Error(PVM_ESRCH);
  sigval value{};
  value.sival_int = static_cast<int>(sig);
  if (sigqueue(pid, SIGRTMIN + ctl::kPvmSignalAfterRtMin, value) != 0) return Error(PVM_ESRCH);
  return Return(0);
}

void PostChildEnded(Monitor* m) {
  const RegistryEntry* e = m->registry.Find(m->identity.parent_id);
  if (!e || __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != kRegistryRunning) return;
  pid_t pid = __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE);
  if (pid <= 0) return;
  sigval value{};
  value.sival_int = PVM_SIGCHLD;
  (void)sigqueue(pid, SIGRTMIN + ctl::kPvmSignalAfterRtMin, value);
}

HypercallResult WaitPid(const VcpuExit& x, Monitor* m, const sigset_t* wait_mask) {
  uint64_t want = x.args[0];
  uint64_t status_gpa = x.args[1];
  uint64_t timeout_ns = x.args[2];
  uint8_t* status_out = nullptr;
  if (status_gpa != 0 && !(status_out = m->backend->memory().GuestBuffer(status_gpa, sizeof(ChildStatus)))) {
    return Error(PVM_EFAULT);
  }
  timespec limit{static_cast<time_t>(timeout_ns / 1000000000ull), static_cast<long>(timeout_ns % 1000000000ull)};
  for (;;) {
    CollectSignals(m);
    // Told to end while asleep: return, the vCPU loop ends the pVM (else this loop would
    // sleep again and a SIGTERM would never be heard).
    if (PendingSignals(*m) || TerminateRequested()) return Error(PVM_EINTR);
    // Drain the bell first, then look: a child that ends after the look rings it again.
    uint64_t ignored;
    (void)!read(m->family.child_exit_bell, &ignored, sizeof ignored);
    bool any = false;
    for (size_t i = 0; i < m->family.children.size(); i++) {
      Family::Child c = m->family.children[i];
      if (want != 0 && c.id != want) continue;
      any = true;
      ChildStatus status;
      if (!Ended(*m, c, &status)) continue;
      if (status_out) {
        std::memcpy(status_out, &status, sizeof status);
        MarkMonitorWrite(m, status_gpa, sizeof status);
      }
      close(c.pidfd);
      m->family.children.erase(m->family.children.begin() + static_cast<long>(i));
      return Return(c.id);
    }
    if (!any) return Error(PVM_ECHILD);
    if (timeout_ns == 0) return Return(0);

    // Sleep until a child rings, a child's monitor goes, the host writes, or time is up.
    pollfd fds[PVM_CHANNEL_SLOTS + 2];
    uint32_t n = 0;
    fds[n++] = pollfd{m->family.child_exit_bell, POLLIN, 0};
    fds[n++] = pollfd{m->control.fd(), POLLIN, 0};
    for (const auto& c : m->family.children) {
      if ((want == 0 || c.id == want) && n < PVM_CHANNEL_SLOTS + 2) fds[n++] = pollfd{c.pidfd, POLLIN, 0};
    }
    SetActivity(m, kActivityWaitpid, want);
    RaceDelay();  // a child that ends now rings the bell: the ppoll below still sees it
    m->backend->SettleKicks();
    int ready = ppoll(fds, n, timeout_ns == ~0ull ? nullptr : &limit, wait_mask);
    SetActivity(m, kActivityRunning);
    if (ready == 0) return Error(PVM_ETIMEDOUT);
    if (ready > 0 && fds[1].revents) {
      m->host.waiting = true;  // let the host be served; the guest calls again
      return Error(PVM_EINTR);
    }
    // The timeout restarts after a wake-up; a child's end is what callers wait for.
  }
}

}  // namespace pvm::monitor
