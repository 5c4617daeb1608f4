// Entering the guest and the signals that stop it. See switch.S for the switch itself.
//
// Kick signals and the signal mask (the KVM_SET_SIGNAL_MASK contract without a syscall
// per switch): the kick signals stay *unblocked* in the kernel while the monitor runs
// hypercalls; they are blocked lazily. When one arrives:
//  - in the guest (proc_in_guest): save the guest's frame, return to the monitor
//    (PROC_EXIT_INTERRUPTED);
//  - in the entry window [proc_crit_begin, proc_crit_end): return PROC_EXIT_INTERRUPTED
//    without entering;
//  - in monitor code, or in proc_hypercall_entry (the guest is already leaving): nothing
//    to interrupt;
// and in all three the signal is re-queued to this thread with its siginfo and the kick
// signals become blocked (uc_sigmask, applied by rt_sigreturn): the monitor finds it
// pending, exactly as after KVM_RUN's EINTR, and the next Enter returns at once while it
// is pending. If the mask at the interruption already blocked it, the monitor unblocked
// it on purpose (ppoll/sigsuspend with a wait mask): its own handler is called.
#include "monitor/backends/process/guest_signals.h"

#include <linux/audit.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

extern "C" {
// Shared with switch.S.
__attribute__((visibility("hidden"))) proc_ctx* proc_current = nullptr;
__attribute__((visibility("hidden"))) volatile uint8_t proc_in_guest = 0;
__attribute__((visibility("hidden"))) volatile uint8_t proc_kick_blocked = 0;
__attribute__((visibility("hidden"))) uint8_t proc_fsgsbase = 0;
__attribute__((visibility("hidden"))) uint64_t proc_monitor_fs = 0, proc_monitor_gs = 0;
__attribute__((visibility("hidden"))) uint64_t proc_sig_fs = 0, proc_sig_gs = 0;

int proc_enter(proc_ctx* ctx);
void proc_return_to_monitor();
void proc_sig_trampoline(int, siginfo_t*, void*);
extern const char proc_crit_begin[], proc_crit_end[];
extern const char proc_hypercall_entry[], proc_hypercall_entry_end[];
void proc_on_signal(int sig, siginfo_t* info, void* ucv);
}

static_assert(offsetof(proc_ctx, rbx) == PROC_CTX_RBX && offsetof(proc_ctx, r15) == PROC_CTX_R15);
static_assert(offsetof(proc_ctx, rsp) == PROC_CTX_RSP && offsetof(proc_ctx, rip) == PROC_CTX_RIP);
static_assert(offsetof(proc_ctx, rdi) == PROC_CTX_RDI && offsetof(proc_ctx, rax) == PROC_CTX_RAX);
static_assert(offsetof(proc_ctx, fsbase) == PROC_CTX_FSBASE && offsetof(proc_ctx, gsbase) == PROC_CTX_GSBASE);
static_assert(offsetof(proc_ctx, mxcsr) == PROC_CTX_MXCSR && offsetof(proc_ctx, fcw) == PROC_CTX_FCW);
static_assert(offsetof(proc_ctx, mon_rsp) == PROC_CTX_MON_RSP && offsetof(proc_ctx, mon_mxcsr) == PROC_CTX_MON_MXCSR);
static_assert(offsetof(proc_ctx, mon_fcw) == PROC_CTX_MON_FCW && offsetof(proc_ctx, resume) == PROC_CTX_RESUME);
static_assert(offsetof(proc_ctx, frame) == PROC_CTX_FRAME);
static_assert(offsetof(proc_ctx, uc) == offsetof(proc_ctx, pretcode) + 8, "rt_sigreturn reads at rsp - 8");
// The kernel's ucontext (flags, link, stack, sigcontext, 8-byte sigmask) is a prefix of glibc's.
static_assert(offsetof(ucontext_t, uc_mcontext) == 40 && offsetof(ucontext_t, uc_sigmask) == 296);

namespace pvm::monitor::process {
namespace {

constexpr int kFaultSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS};
constexpr uint32_t kFpXstateMagic1 = 0x46505853;  // the kernel's FP_XSTATE_MAGIC1
constexpr size_t kAltStackSize = 64 * 1024;

SignalConfig g_config;
struct sigaction g_previous[NSIG];
GuestFault g_fault;

long RawSyscall(long nr, long a = 0, long b = 0, long c = 0, long d = 0) { return syscall(nr, a, b, c, d); }

// Puts `sig` back as pending on this thread, with its siginfo (si_value of a sigqueue).
void Requeue(int sig, siginfo_t* info) {
  RawSyscall(SYS_rt_tgsigqueueinfo, RawSyscall(SYS_getpid), RawSyscall(SYS_gettid), sig, reinterpret_cast<long>(info));
}

void BlockKicks(ucontext_t* uc) {
  for (int s = 1; s < NSIG; s++)
    if (sigismember(&g_config.kick, s) == 1) sigaddset(&uc->uc_sigmask, s);
  proc_kick_blocked = 1;
}

// The monitor's own handler, for a kick it let through itself (ppoll with a wait mask).
void Chain(int sig, siginfo_t* info, void* uc) {
  const struct sigaction& prev = g_previous[sig];
  if (prev.sa_flags & SA_SIGINFO) {
    prev.sa_sigaction(sig, info, uc);
  } else if (prev.sa_handler == SIG_DFL) {
    signal(sig, SIG_DFL);
    Requeue(sig, info);
  } else if (prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  }
}

// Copies the kernel's frame (registers, xsave area) into ctx: resumable by rt_sigreturn.
void SaveFrame(ucontext_t* uc) {
  proc_ctx* ctx = proc_current;
  memcpy(&ctx->uc, uc, offsetof(ucontext_t, __fpregs_mem));
  const uint8_t* fp = reinterpret_cast<const uint8_t*>(uc->uc_mcontext.fpregs);
  size_t size = 512;
  uint32_t magic1, extended;
  memcpy(&magic1, fp + 464, 4);
  memcpy(&extended, fp + 468, 4);
  if (magic1 == kFpXstateMagic1) size = extended;
  if (size > PROC_FPSTATE_MAX) {
    static const char msg[] = "pvm-monitor (process): xsave area larger than PROC_FPSTATE_MAX\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(70);
  }
  memcpy(ctx->fpstate, fp, size);
  ctx->uc.uc_mcontext.fpregs = reinterpret_cast<fpregset_t>(ctx->fpstate);
  if (proc_fsgsbase) {
    ctx->fsbase = proc_sig_fs;
    ctx->gsbase = proc_sig_gs;
  }
  ctx->resume = PROC_RESUME_FRAME;
  ctx->frame = reinterpret_cast<uint64_t>(&ctx->uc);
}

// Makes the handler return into the monitor: proc_enter returns `kind`.
void ReturnToMonitor(ucontext_t* uc, int kind) {
  greg_t* g = uc->uc_mcontext.gregs;
  g[REG_RIP] = reinterpret_cast<greg_t>(&proc_return_to_monitor);
  g[REG_RSP] = static_cast<greg_t>(proc_current->mon_rsp);
  g[REG_RAX] = kind;
  g[REG_EFL] = 0x202;  // no DF/AC/TF left over from the guest
  proc_sig_fs = proc_monitor_fs;
  proc_sig_gs = proc_monitor_gs;
  proc_in_guest = 0;
}

// Not the guest's fault: let the default action (a crash with a core) happen.
void CrashAsUsual(int sig, siginfo_t* info) {
  signal(sig, SIG_DFL);
  Requeue(sig, info);
}

bool g_installed = false;
uint64_t g_linux_syscall_entry = 0;  // SetLinuxSyscallEntry (a fork(2) child keeps it)

// A guest `syscall` the filter trapped (SYS_SECCOMP, x86-64 ABI) of a Linux program:
// resume at the personality's entry. The kernel rolled rax back to the number; rcx and
// r11 hold what the `syscall` instruction put there (the next rip, rflags), which is
// what the entry expects, and rip is already past the instruction.
bool RedirectSyscall(int sig, const siginfo_t* info, ucontext_t* uc) {
  if (sig != SIGSYS || g_linux_syscall_entry == 0 || info->si_code != 1 /* SYS_SECCOMP */ ||
      info->si_arch != AUDIT_ARCH_X86_64) {
    return false;
  }
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(g_linux_syscall_entry);
  return true;
}
stack_t g_alt_stack{};  // this process's alternate signal stack (rt_sigreturn re-installs uc_stack)

}  // namespace

bool InstallSignals(const SignalConfig& config, Failure* why) {
  g_config = config;
  // Once per process (a fork inherits them): installing again would chain to ourselves.
  if (g_installed) return true;
  g_installed = true;
  proc_fsgsbase = FsGsBaseUsable() ? 1 : 0;
  if (proc_fsgsbase) {
    __asm__ volatile("rdfsbase %0" : "=r"(proc_monitor_fs));
    __asm__ volatile("rdgsbase %0" : "=r"(proc_monitor_gs));
  }
  void* alt = mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (alt == MAP_FAILED) return FailErrno(why, ctl::ErrorCode::NoMemory, "the alternate signal stack");
  stack_t ss{};
  ss.ss_sp = alt;
  ss.ss_size = kAltStackSize;
  if (sigaltstack(&ss, nullptr) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigaltstack");
  g_alt_stack = ss;

  struct sigaction sa {};
  sa.sa_sigaction = proc_sig_trampoline;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int s : kFaultSignals) sigaddset(&sa.sa_mask, s);
  for (int s = 1; s < NSIG; s++)
    if (sigismember(&config.kick, s) == 1) sigaddset(&sa.sa_mask, s);
  for (int s = 1; s < NSIG; s++) {
    bool ours = sigismember(&config.kick, s) == 1;
    for (int f : kFaultSignals) ours = ours || f == s;
    if (ours && sigaction(s, &sa, &g_previous[s]) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "sigaction");
  }
  // The caller has the kicks blocked: the first Enter checks for pending ones, then
  // unblocks them.
  proc_kick_blocked = 1;
  return true;
}

void InitContext(proc_ctx* ctx, uint64_t rip, uint64_t rsp, uint64_t rdi) {
  memset(static_cast<void*>(ctx), 0, offsetof(proc_ctx, uc));
  ctx->rip = rip;
  ctx->rsp = rsp;
  ctx->rdi = rdi;
  ctx->mxcsr = 0x1f80;  // the power-on defaults
  ctx->fcw = 0x37f;
  ctx->resume = PROC_RESUME_REGS;
  // The guest starts with the monitor's FS/GS base (kvm: 0): pvm guests have no TLS, and
  // equal bases make the switches skip wrfsbase/wrgsbase (~20 ns each on this host).
  ctx->fsbase = proc_monitor_fs;
  ctx->gsbase = proc_monitor_gs;
}

void AdoptContext(proc_ctx* ctx) {
  ctx->fsbase = proc_monitor_fs;
  ctx->gsbase = proc_monitor_gs;
}

void SettleKicks() {
  if (proc_kick_blocked) return;
  proc_kick_blocked = 1;  // first: a kick arriving now is blocked by its handler anyway
  sigprocmask(SIG_BLOCK, &g_config.kick, nullptr);
}

int Enter(proc_ctx* ctx) {
  if (proc_kick_blocked) {
    sigset_t pending;
    sigpending(&pending);
    for (int s = 1; s < NSIG; s++)
      if (sigismember(&g_config.kick, s) == 1 && sigismember(&pending, s) == 1) return PROC_EXIT_INTERRUPTED;
    proc_kick_blocked = 0;  // before unblocking: a kick in between sets it again
    sigprocmask(SIG_UNBLOCK, &g_config.kick, nullptr);
  }
  if (ctx->resume == PROC_RESUME_FRAME) {
    // rt_sigreturn installs uc_sigmask: the monitor's mask with the kicks let through.
    sigset_t mask;
    sigprocmask(SIG_SETMASK, nullptr, &mask);
    for (int s = 1; s < NSIG; s++)
      if (sigismember(&g_config.kick, s) == 1) sigdelset(&mask, s);
    ctx->uc.uc_sigmask = mask;
    // and uc_stack as the alternate stack: this process's (a snapshot's frame was saved by another).
    ctx->uc.uc_stack = g_alt_stack;
  }
  return proc_enter(ctx);
}

const GuestFault& LastFault() { return g_fault; }

uint64_t HypercallEntryAddress() { return reinterpret_cast<uint64_t>(&proc_hypercall_entry); }

// Then every switch saves and restores them (the monitor's FS is its TLS).
bool FsGsBaseUsable() { return (getauxval(AT_HWCAP2) & 2) != 0; }  // HWCAP2_FSGSBASE

void SetLinuxSyscallEntry(uint64_t entry) { g_linux_syscall_entry = entry; }

}  // namespace pvm::monitor::process

extern "C" void proc_on_signal(int sig, siginfo_t* info, void* ucv) {
  using namespace pvm::monitor::process;
  auto* uc = static_cast<ucontext_t*>(ucv);
  uint64_t rip = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  bool in_window = rip >= reinterpret_cast<uint64_t>(proc_crit_begin) && rip < reinterpret_cast<uint64_t>(proc_crit_end);
  bool in_entry = rip >= reinterpret_cast<uint64_t>(proc_hypercall_entry) &&
                  rip < reinterpret_cast<uint64_t>(proc_hypercall_entry_end);
  if (sigismember(&g_config.kick, sig) == 1) {
    if (sigismember(&uc->uc_sigmask, sig) == 1) return Chain(sig, info, ucv);
    Requeue(sig, info);
    BlockKicks(uc);
    if (in_window) {
      ReturnToMonitor(uc, PROC_EXIT_INTERRUPTED);  // not entered yet: do not
    } else if (proc_in_guest && !in_entry) {
      SaveFrame(uc);
      ReturnToMonitor(uc, PROC_EXIT_INTERRUPTED);
    }
    // In the hypercall entry (the guest is leaving already: saving a frame there would
    // resume a half-written context) or in monitor code: nothing to interrupt.
    return;
  }
  // A fault signal. Only a fault the CPU raised while the guest ran is the guest's.
  bool synchronous = info->si_code > 0;
  if (!synchronous || in_window || !proc_in_guest) return CrashAsUsual(sig, info);
  if (!in_entry && RedirectSyscall(sig, info, uc)) return;  // served by the guest's personality
  DecodeFault(sig, info, uc, g_config.guest_lo, g_config.guest_hi, &g_fault);
  SaveFrame(uc);
  ReturnToMonitor(uc, PROC_EXIT_EXCEPTION);
}
