#include "monitor/signals.h"

#include <cstdio>

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

// A pVM signal arrived (its number is the real-time signal's value). KILL ends the guest
// at once; the others wait for CollectSignals, which knows what the guest catches.
void NotePvmSignal(int sig) {
  if (sig == PVM_SIGKILL) g_terminate = sig;
  else if (sig > 0 && sig < 64) __atomic_or_fetch(&g_arrived, 1ull << sig, __ATOMIC_RELAXED);
}

void OnKick(int) {}  // only there to interrupt the vCPU run
void OnTerminate(int) { g_terminate = PVM_SIGTERM; }
void OnPvmSignal(int, siginfo_t* info, void*) { NotePvmSignal(info->si_value.sival_int); }

}  // namespace

sigset_t KickSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kKickSignal);
  sigaddset(&set, kTerminateSignal);
  sigaddset(&set, PvmSignal());
  return set;
}

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

uint64_t TakeArrivedSignals() { return __atomic_exchange_n(&g_arrived, 0, __ATOMIC_RELAXED); }
bool TerminateRequested() { return g_terminate != 0; }
void RequestTerminate(int sig) {
  if (!g_terminate) g_terminate = sig;
}

ctl::Exit Terminated() {
  ctl::Exit e{};
  e.kind = ctl::ExitKind::Killed;
  e.code = g_terminate;
  e.fault = ctl::FaultKind::None;
  e.vector = ctl::kNoVector;
  if (g_terminate == PVM_SIGKILL || g_terminate == PVM_SIGTERM) {
    snprintf(e.reason, sizeof e.reason, "ended by signal %s", g_terminate == PVM_SIGKILL ? "KILL" : "TERM");
  } else {
    snprintf(e.reason, sizeof e.reason, "ended by signal %d", static_cast<int>(g_terminate));
  }
  return e;
}

}  // namespace pvm::monitor
