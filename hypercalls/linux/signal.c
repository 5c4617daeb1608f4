/*
 * Signals with handlers, the way Linux delivers them on x86-64.
 *
 * Signals come from the program itself (kill/tgkill of its own pid, raise, SIGPIPE on a
 * write with no reader) and from other pVMs of the family (KILL: the Linux number rides
 * in the pVM signal; the end of a child posts 17). The latter arrive as bits of the
 * boot-info page's pending_signals word; caught_signals there tells the monitors which
 * ones this program takes itself (a handler or SIG_IGN), so the others keep their
 * monitor-side default (TERM and the like end the pVM even while it computes).
 *
 * Delivery happens where Linux's happens for a process in a syscall: on the way back
 * from one (entry.S calls linux_signal_exit). A blocking call (pipe read, wait4,
 * nanosleep, poll, pause, sigsuspend) returns -EINTR when a signal that would run a
 * handler or end the process arrives; read/write/wait4 restart with SA_RESTART. The
 * frame on the user stack is the kernel's rt_sigframe: return address (sa_restorer),
 * ucontext (uc_mcontext gregs, fpstate pointer, uc_sigmask), siginfo; the FP/SSE state
 * is saved with fxsave below it. rt_sigreturn takes all of it back.
 */
#include "linux.h"

#define SIG_DFL_L 0
#define SIG_IGN_L 1
#define SA_SIGINFO_L 4u
#define SA_ONSTACK_L 0x08000000u
#define SA_RESTART_L 0x10000000u
#define SA_NODEFER_L 0x40000000u
#define SA_RESETHAND_L 0x80000000u
#define SS_ONSTACK_L 1
#define SS_DISABLE_L 2
#define SI_USER_L 0
#define SI_TKILL_L (-6)
#define CLD_EXITED_L 1
#define SIGKILL_L 9
#define SIGUSR1_L 10
#define SIGUSR2_L 12
#define SIGPIPE_L 13
#define SIGALRM_L 14
#define SIGCHLD_L 17
#define SIGCONT_L 18
#define SIGSTOP_L 19
#define SIGURG_L 23
#define SIGWINCH_L 28
#define NSIG_L 65
#define BIT(sig) (1ull << ((sig) - 1))  /* a Linux sigset: signal n is bit n-1 */
#define UNBLOCKABLE (BIT(SIGKILL_L) | BIT(SIGSTOP_L))
#define FIX_EFLAGS 0x50dd5ull  /* the flags sigreturn may set: AC OF DF TF SF ZF AF PF CF RF */

struct ksigaction { uint64_t handler, flags, restorer, mask; };
_Static_assert(sizeof(struct ksigaction) == 32, "linux_sigactions' rows");

struct siginfo_l {
  int32_t signo, err, code, pad;
  int32_t pid, uid, status, pad2;
  uint8_t rest[96];
};
struct sigcontext_l {
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
  uint16_t cs, gs, fs, ss;
  uint64_t err, trapno, oldmask, cr2, fpstate, reserved[8];
};
struct ucontext_l {
  uint64_t flags, link;
  uint64_t ss_sp;
  int32_t ss_flags, pad;
  uint64_t ss_size;
  struct sigcontext_l mc;
  uint64_t sigmask;
};
struct rt_sigframe {
  uint64_t pretcode;
  struct ucontext_l uc;
  struct siginfo_l info;
};
_Static_assert(sizeof(struct sigcontext_l) == 256, "the kernel's sigcontext");
_Static_assert(__builtin_offsetof(struct ucontext_l, sigmask) == 296, "uc_sigmask where libcs look");

uint8_t linux_sigactions[NSIG_L][32];
uint64_t linux_signal_blocked_set, linux_signal_pending_set;  /* Linux sigsets: signal n is bit n-1 */
static struct { int32_t code, pid, status; } info_of[NSIG_L];
static uint64_t suspend_mask;      /* sigsuspend's caller's mask, put back by sigreturn */
int linux_signal_suspended;
static uint64_t alt_sp, alt_size;  /* sigaltstack */
static int alt_disabled = 1;
int linux_signal_nr;               /* the syscall being served (restarts) */
uint8_t linux_full_restore;        /* entry.S: return with iretq (every register from the frame) */
uint64_t linux_signal_alarm_at;
static uint64_t alarm_every;  /* ITIMER_REAL: CLOCK_MONOTONIC ns (0: off), its interval */

/* SIGALRM once the timer is due (looked at where signals are: syscalls, blocking waits). */
static void check_alarm(void)
{
  if (!linux_signal_alarm_at) return;
  uint64_t now = linux_now_ns();
  if (now < linux_signal_alarm_at) return;
  linux_signal_alarm_at = alarm_every ? now + alarm_every : 0;
  linux_signal_raise(SIGALRM_L, 0x80, 0);  /* SI_KERNEL */
}

uint64_t linux_signal_wait_limit_ns(void)
{
  if (!linux_signal_alarm_at) return ~0ull;
  uint64_t now = linux_now_ns();
  return linux_signal_alarm_at > now ? linux_signal_alarm_at - now : 0;
}

static struct ksigaction *act(int sig) { return (struct ksigaction *)(void *)linux_sigactions[sig]; }

/* Signals whose default action is to do nothing. */
static int ignored_by_default(int sig)
{
  return sig == SIGCHLD_L || sig == SIGCONT_L || sig == SIGURG_L || sig == SIGWINCH_L;
}

/* What the monitors must know: which signals this program takes itself. */
static void publish_caught(void)
{
  uint64_t caught = 0;
  for (int sig = 1; sig < 64; sig++)
    if (sig != SIGKILL_L && act(sig)->handler != SIG_DFL_L)
      caught |= 1ull << sig;  /* the page's numbering: bit n = signal n */
  linux_boot->caught_signals = caught;
}

/* Would `sig` (from `page`: another pVM) do nothing if delivered now? Then it is dropped
 * when generated, as Linux drops an ignored signal. */
static int discarded(int sig, int from_page)
{
  uint64_t h = act(sig)->handler;
  if (h == SIG_IGN_L) return 1;
  if (h != SIG_DFL_L) return 0;
  /* USR1/USR2 from another pVM without a handler: dropped, as before handlers existed. */
  return ignored_by_default(sig) || (from_page && (sig == SIGUSR1_L || sig == SIGUSR2_L));
}

void linux_signal_raise(int sig, int code, int pid)
{
  if (sig < 1 || sig >= NSIG_L || discarded(sig, 0))
    return;
  linux_signal_pending_set |= BIT(sig);
  info_of[sig].code = code, info_of[sig].pid = pid, info_of[sig].status = 0;
}

/* Takes the page's word into `linux_signal_pending_set`. */
static void collect(void)
{
  struct pvm_boot_info *bi = linux_boot;
  if (bi->pending_signals == 0)
    return;
  uint64_t got = (bi->flags & PVM_BOOT_FLAG_SIGNALS_IN_PAGE)
                     ? __atomic_exchange_n(&bi->pending_signals, 0, __ATOMIC_SEQ_CST)
                     : (uint64_t)pvm_hypercall0(PVM_HC_SIGNALS);
  for (int sig = 1; sig < 64; sig++) {
    if (!(got >> sig & 1) || discarded(sig, 1))
      continue;
    linux_signal_pending_set |= BIT(sig);
    info_of[sig].code = sig == SIGCHLD_L ? CLD_EXITED_L : SI_USER_L;
    info_of[sig].pid = 0, info_of[sig].status = 0;  /* the page carries no sender */
  }
}

void linux_drop_pvm_signals(void) { collect(); }

int linux_signal_interrupts(void)
{
  collect();
  check_alarm();
  return (linux_signal_pending_set & ~linux_signal_blocked_set) != 0;
}

__attribute__((noreturn)) static void default_end(int sig)
{
  linux_exit(128 + sig);  /* as a shell sees a process ended by `sig` */
}

static int restartable(int nr)
{
  switch (nr) {
    case 0: case 1: case 17: case 18: case 19: case 20: case 61: case 247: return 1;  /* read write pread pwrite readv writev wait4 waitid */
    default: return 0;
  }
}

static int on_alt_stack(uint64_t sp) { return !alt_disabled && sp - alt_sp <= alt_size; }

/* Builds the frame for `sig` and points the return at its handler. */
static void setup_frame(struct linux_frame *f, int sig)
{
  struct ksigaction *k = act(sig);
  if (f->rax == (uint64_t)-L_EINTR && restartable(linux_signal_nr) && (k->flags & SA_RESTART_L)) {
    f->rax = (uint64_t)linux_signal_nr;  /* sigreturn comes back to the syscall, which runs again */
    f->rip -= 2;                /* `syscall` and the rewrite's `call *%rax` are both 2 bytes */
  }
  uint64_t sp = f->rsp;
  if ((k->flags & SA_ONSTACK_L) && !alt_disabled && !on_alt_stack(sp))
    sp = alt_sp + alt_size;
  else
    sp -= 128;  /* the red zone */
  uint64_t fp = (sp - 512) & ~63ull;
  uint8_t *fx = (uint8_t *)(uintptr_t)fp;
  __asm__ volatile("fxsave64 %0" : "=m"(*(uint8_t(*)[512])fx));
  memset(fx + 464, 0, 48);  /* no xsave magic: a plain fxsave image */
  sp = ((fp - sizeof(struct rt_sigframe)) & ~15ull) - 8;  /* as after a call */
  struct rt_sigframe *fr = (struct rt_sigframe *)(uintptr_t)sp;
  memset(fr, 0, sizeof *fr);
  fr->pretcode = k->restorer;
  fr->uc.ss_sp = alt_sp, fr->uc.ss_size = alt_size;
  fr->uc.ss_flags = alt_disabled ? SS_DISABLE_L : on_alt_stack(f->rsp) ? SS_ONSTACK_L : 0;
  struct sigcontext_l *mc = &fr->uc.mc;
  mc->r8 = f->r8, mc->r9 = f->r9, mc->r10 = f->r10, mc->r11 = f->r11, mc->r12 = f->r12, mc->r13 = f->r13;
  mc->r14 = f->r14, mc->r15 = f->r15, mc->rdi = f->rdi, mc->rsi = f->rsi, mc->rbp = f->rbp, mc->rbx = f->rbx;
  mc->rdx = f->rdx, mc->rax = f->rax, mc->rcx = f->rcx, mc->rsp = f->rsp, mc->rip = f->rip, mc->eflags = f->rflags;
  mc->fpstate = fp;
  mc->oldmask = linux_signal_suspended ? suspend_mask : linux_signal_blocked_set;
  fr->uc.sigmask = mc->oldmask;
  fr->info.signo = sig, fr->info.code = info_of[sig].code;
  fr->info.pid = info_of[sig].pid, fr->info.status = info_of[sig].status;
  linux_signal_suspended = 0;

  linux_signal_blocked_set |= k->mask;
  if (!(k->flags & SA_NODEFER_L)) linux_signal_blocked_set |= BIT(sig);
  linux_signal_blocked_set &= ~UNBLOCKABLE;
  uint64_t handler = k->handler;
  if (k->flags & SA_RESETHAND_L) {
    memset(k, 0, sizeof *k);
    publish_caught();
  }
  f->rip = handler;
  f->rsp = sp;
  f->rdi = (uint64_t)sig;
  f->rsi = (uint64_t)(uintptr_t)&fr->info;
  f->rdx = (uint64_t)(uintptr_t)&fr->uc;
  f->rax = 0;
  f->rflags &= ~0x40500ull;  /* DF, TF, AC clear in a handler */
}

void linux_signal_exit(struct linux_frame *f)
{
  if (linux_boot->pending_signals) collect();
  check_alarm();
  while (linux_signal_pending_set & ~linux_signal_blocked_set) {
    int sig = __builtin_ctzll(linux_signal_pending_set & ~linux_signal_blocked_set) + 1;
    linux_signal_pending_set &= ~BIT(sig);
    uint64_t h = act(sig)->handler;
    if (h == SIG_IGN_L || (h == SIG_DFL_L && ignored_by_default(sig)))
      continue;  /* its action changed since it was generated */
    if (h == SIG_DFL_L)
      default_end(sig);
    setup_frame(f, sig);  /* one frame a time: the next at the handler's sigreturn */
    return;
  }
  if (linux_signal_suspended) {
    linux_signal_blocked_set = suspend_mask;
    linux_signal_suspended = 0;
  }
}


long linux_rt_sigreturn(struct linux_frame *f)
{
  const struct ucontext_l *uc = (const struct ucontext_l *)(uintptr_t)f->rsp;  /* the handler's ret took pretcode */
  const struct sigcontext_l *mc = &uc->mc;
  f->r8 = mc->r8, f->r9 = mc->r9, f->r10 = mc->r10, f->r11 = mc->r11, f->r12 = mc->r12, f->r13 = mc->r13;
  f->r14 = mc->r14, f->r15 = mc->r15, f->rdi = mc->rdi, f->rsi = mc->rsi, f->rbp = mc->rbp, f->rbx = mc->rbx;
  f->rdx = mc->rdx, f->rcx = mc->rcx, f->rsp = mc->rsp, f->rip = mc->rip;
  f->rflags = (f->rflags & ~FIX_EFLAGS) | (mc->eflags & FIX_EFLAGS);
  if (mc->fpstate)
    __asm__ volatile("fxrstor64 %0" : : "m"(*(const uint8_t(*)[512])(uintptr_t)mc->fpstate));
  linux_signal_blocked_set = uc->sigmask & ~UNBLOCKABLE;
  linux_full_restore = 1;  /* rcx and r11 are the interrupted code's, not a syscall's */
  return (long)mc->rax;
}

long linux_rt_sigaction(long sig, const void *new_act, void *old, uint64_t size)
{
  if (sig < 1 || sig >= NSIG_L || size != 8)
    return -L_EINVAL;
  if (new_act && (sig == SIGKILL_L || sig == SIGSTOP_L))
    return -L_EINVAL;
  if (old) memcpy(old, linux_sigactions[sig], 32);
  if (new_act) {
    memcpy(linux_sigactions[sig], new_act, 32);
    act((int)sig)->mask &= ~UNBLOCKABLE;
    if (discarded((int)sig, 0)) linux_signal_pending_set &= ~BIT(sig);  /* ignoring a linux_signal_pending_set signal drops it */
    publish_caught();
  }
  return 0;
}

long linux_rt_sigprocmask(long how, const uint64_t *set, uint64_t *old, uint64_t size)
{
  if (size != 8)
    return -L_EINVAL;
  uint64_t was = linux_signal_blocked_set;
  if (set) {
    switch (how) {
      case 0: linux_signal_blocked_set |= *set; break;
      case 1: linux_signal_blocked_set &= ~*set; break;
      case 2: linux_signal_blocked_set = *set; break;
      default: return -L_EINVAL;
    }
    linux_signal_blocked_set &= ~UNBLOCKABLE;
  }
  if (old) *old = was;
  return 0;
}

long linux_rt_sigpending(uint64_t *set, uint64_t size)
{
  if (size > 8)
    return -L_EINVAL;
  collect();
  uint64_t p = linux_signal_pending_set & linux_signal_blocked_set;
  memcpy(set, &p, size);
  return 0;
}

/* pause and sigsuspend: sleep until a signal would run a handler or end the process. */
static long wait_for_signal(void)
{
  while (!linux_signal_interrupts()) {
    uint64_t ns = linux_signal_wait_limit_ns();
    linux_sleep_ns(ns < 1000000000ull ? ns : 1000000000ull);  /* WAIT returns at once when a pVM signal arrives */
  }
  return -L_EINTR;
}

long linux_pause(void) { return wait_for_signal(); }

/* sigsuspend, ppoll, pselect6: `mask` while the call waits; the old one comes back as
 * the call returns, or at the sigreturn of the handler that interrupted it. */
long linux_signal_temp_mask(const uint64_t *mask, uint64_t size)
{
  if (size != 8)
    return -L_EINVAL;
  suspend_mask = linux_signal_blocked_set;
  linux_signal_suspended = 1;
  linux_signal_blocked_set = *mask & ~UNBLOCKABLE;
  return 0;
}

long linux_rt_sigsuspend(const uint64_t *mask, uint64_t size)
{
  long r = linux_signal_temp_mask(mask, size);
  return r < 0 ? r : wait_for_signal();
}

long linux_sigaltstack(const uint64_t *ss, uint64_t *old, uint64_t sp)
{
  if (old) {
    old[0] = alt_sp;
    ((int32_t *)old)[2] = alt_disabled ? SS_DISABLE_L : on_alt_stack(sp) ? SS_ONSTACK_L : 0;
    ((int32_t *)old)[3] = 0;
    old[2] = alt_size;
  }
  if (ss) {
    if (on_alt_stack(sp)) return -L_EPERM;
    int32_t flags = ((const int32_t *)ss)[2];
    if (flags & ~SS_DISABLE_L) return -L_EINVAL;
    if (flags & SS_DISABLE_L) {
      alt_disabled = 1, alt_sp = 0, alt_size = 0;
    } else {
      if (ss[2] < 2048) return -L_ENOMEM;  /* MINSIGSTKSZ */
      alt_disabled = 0, alt_sp = ss[0], alt_size = ss[2];
    }
  }
  return 0;
}

/* alarm and setitimer(ITIMER_REAL) / getitimer: one timer, SIGALRM when it is due. */
struct timeval_l { int64_t sec, usec; };
static void put_tv(struct timeval_l *tv, uint64_t ns)
{
  tv->sec = (int64_t)(ns / 1000000000u), tv->usec = (int64_t)(ns % 1000000000u / 1000u);
}

long linux_getitimer(long which, struct timeval_l *cur)
{
  if (which != 0) return -L_EINVAL;  /* ITIMER_VIRTUAL/PROF: not served */
  uint64_t left = linux_signal_alarm_at ? linux_signal_wait_limit_ns() : 0;
  if (linux_signal_alarm_at && left == 0) left = 1000;  /* due, not yet raised: not "disarmed" */
  put_tv(&cur[0], alarm_every);
  put_tv(&cur[1], left);
  return 0;
}

long linux_setitimer(long which, const struct timeval_l *nv, struct timeval_l *old)
{
  if (which != 0) return -L_EINVAL;
  if (old) linux_getitimer(0, old);
  if (nv) {
    if (nv[0].usec < 0 || nv[0].usec >= 1000000 || nv[1].usec < 0 || nv[1].usec >= 1000000) return -L_EINVAL;
    uint64_t every = (uint64_t)nv[0].sec * 1000000000u + (uint64_t)nv[0].usec * 1000u;
    uint64_t first = (uint64_t)nv[1].sec * 1000000000u + (uint64_t)nv[1].usec * 1000u;
    alarm_every = first ? every : 0;
    linux_signal_alarm_at = first ? linux_now_ns() + first : 0;
  }
  return 0;
}

long linux_alarm(uint64_t seconds)
{
  uint64_t left = linux_signal_alarm_at ? linux_signal_wait_limit_ns() : 0;
  alarm_every = 0;
  linux_signal_alarm_at = seconds ? linux_now_ns() + seconds * 1000000000u : 0;
  return (long)((left + 500000000u) / 1000000000u) + (left && left < 500000000u);  /* rounded, never 0 if armed */
}

/* fork: the child keeps handlers and mask; nothing is linux_signal_pending_set for it, no timer runs. */
void linux_signal_fork_child(void) { linux_signal_pending_set = 0, linux_signal_alarm_at = 0, alarm_every = 0; }

/* exec: handlers go back to SIG_DFL (exec.c keeps the ignored ones); mask and linux_signal_pending_set stay. */
uint64_t linux_signal_blocked(void) { return linux_signal_blocked_set; }
void linux_signal_exec_restore(uint64_t mask)
{
  linux_signal_blocked_set = mask & ~UNBLOCKABLE;
  publish_caught();
}
