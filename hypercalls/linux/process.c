/*
 * Processes: a Linux process is a pVM. fork (and vfork, and clone without threads) is
 * the FORK hypercall: the whole pVM, this personality's state included, is cloned
 * copy-on-write; the child gets 0, the parent the child's pVM id, which is its pid.
 * wait4/waitid are WAITPID, kill/tgkill are KILL, exit is EXIT.
 */
#include "linux.h"

#define CLONE_VM 0x100
#define CLONE_SIGHAND 0x800
#define CLONE_VFORK 0x4000
#define CLONE_THREAD 0x10000
#define CLONE_PARENT_SETTID 0x100000
#define CLONE_CHILD_SETTID 0x1000000
#define WNOHANG 1
#define WEXITED 4
#define WNOWAIT 0x1000000
#define P_ALL 0
#define P_PID 1
#define P_PGID 2
#define SIGKILL_L 9
#define SIGSEGV_L 11
#define SIGTERM_L 15
#define SIGCHLD_L 17
#define SIGCONT_L 18
#define SIGSTOP_L 19
#define SIGURG_L 23
#define SIGWINCH_L 28

/* Children not waited for yet, with the Linux signal last sent to each (a pVM signal
 * has fewer numbers: wait4 reports the one the program sent). */
#define MAX_CHILDREN 256
static struct { uint64_t id; int sig; } children[MAX_CHILDREN];
_Static_assert(sizeof children == LINUX_CHILDREN_STATE_SIZE, "exec.c's copy of the list");

void linux_children_save(uint8_t *out) { memcpy(out, children, sizeof children); }
void linux_children_restore(const uint8_t *in) { memcpy(children, in, sizeof children); }

static void child_add(uint64_t id)
{
  for (unsigned i = 0; i < MAX_CHILDREN; i++)
    if (children[i].id == 0) {
      children[i].id = id, children[i].sig = 0;
      return;
    }
}

static int child_find(uint64_t id)
{
  for (unsigned i = 0; i < MAX_CHILDREN; i++)
    if (children[i].id == id && id != 0)
      return (int)i;
  return -1;
}

__attribute__((noreturn)) void linux_exit(int code)
{
  linux_fd_close_all();  /* pipe ends: readers see EOF, writers EPIPE */
  pvm_hypercall1(PVM_HC_EXIT, code & 0xff);
  __builtin_trap();
}

long linux_fork(uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t ctid)
{
  /* Threads share memory; pVMs do not. vfork-style CLONE_VM|CLONE_VFORK (posix_spawn)
   * works as a fork: the child runs on newsp in its own copy. */
  if ((flags & (CLONE_THREAD | CLONE_SIGHAND)) || ((flags & CLONE_VM) && !(flags & CLONE_VFORK))) {
    linux_trace_unserved(56);
    return -L_ENOSYS;
  }
  linux_fd_fork_prepare();
  linux_stdin_fork_prepare();
  long r = pvm_hypercall1(PVM_HC_FORK, 0);
  if (r < 0) {
    linux_fd_fork_undo();
    return r == -PVM_ENOMEM ? -L_ENOMEM : -L_EAGAIN;  /* EAGAIN: the host's maxPvms, or slots */
  }
  if (r == 0) {
    linux_cpu_clock_start();
    memset(children, 0, sizeof children);
    linux_fd_fork_child();
    uint32_t self = (uint32_t)linux_boot->id;
    if (flags & CLONE_CHILD_SETTID) *(uint32_t *)(uintptr_t)ctid = self;
    if (flags & CLONE_PARENT_SETTID) *(uint32_t *)(uintptr_t)ptid = self;
    if (newsp) linux_cur_frame->rsp = newsp;
    linux_signal_fork_child();
    return 0;
  }
  child_add((uint64_t)r);
  if (flags & CLONE_PARENT_SETTID) *(uint32_t *)(uintptr_t)ptid = (uint32_t)r;
  return r;
}

/* WAITPID until it answers for the program (not for a pVM signal or the host). */
static long reap(uint64_t id, int nohang, struct pvm_child_status *st)
{
  for (;;) {
    uint64_t limit = nohang ? 0 : linux_signal_wait_limit_ns();
    if (!nohang && limit == 0) limit = 1;  /* SIGALRM is due: 0 would mean WNOHANG */
    uint64_t t0 = linux_now_ns();
    long r = pvm_hypercall3(PVM_HC_WAITPID, (long)id, (long)(uintptr_t)st, (long)limit);
    linux_cpu_idle_since(t0);
    if (r == -PVM_ETIMEDOUT && !linux_signal_interrupts())
      continue;  /* woken for SIGALRM's time, which has not come */
    if (r == -PVM_EINTR || r == -PVM_ETIMEDOUT) {
      /* A signal came (a child's end may have posted SIGCHLD): a child that has ended is
       * still reported first, as Linux's wait4 does; else a handler interrupts. */
      if (linux_signal_interrupts()) {
        if (nohang) continue;
        long again = reap(id, 1, st);
        return again != 0 ? again : -L_EINTR;
      }
      continue;
    }
    if (r == -PVM_ECHILD) return -L_ECHILD;
    if (r < 0) return -L_EINVAL;
    if (r > 0) {
      int i = child_find((uint64_t)r);
      int sent = i >= 0 ? children[i].sig : 0;
      if (i >= 0) children[i].id = 0;
      if (st->kind != PVM_WAIT_EXIT) {
        linux_fd_child_gone((uint64_t)r);  /* it could not close its pipe ends */
        if (st->kind == PVM_WAIT_FAULT) st->code = SIGSEGV_L;
        else if (st->code == PVM_SIGTERM && sent) st->code = sent;
      }
    }
    return r;
  }
}

static uint64_t wanted(int64_t pid) { return pid > 0 ? (uint64_t)pid : 0; }  /* groups: any child */

long linux_wait4(int64_t pid, int *status, long options, void *rusage)
{
  struct pvm_child_status st = {0, 0};
  long r = reap(wanted(pid), (options & WNOHANG) != 0, &st);
  if (r <= 0)
    return r;
  if (status)
    *status = st.kind == PVM_WAIT_EXIT ? (st.code & 0xff) << 8 : (st.code & 0x7f);
  if (rusage)
    memset(rusage, 0, 144);
  return r;
}

long linux_waitid(long idtype, uint64_t id, uint8_t *info, long options)
{
  if (idtype != P_ALL && idtype != P_PID && idtype != P_PGID)
    return -L_EINVAL;
  if (!(options & WEXITED) || (options & WNOWAIT)) {
    linux_trace_unserved(247);
    return -L_EINVAL;  /* only ended children are reported, and reaped */
  }
  struct pvm_child_status st = {0, 0};
  long r = reap(idtype == P_PID ? id : 0, (options & WNOHANG) != 0, &st);
  if (r < 0)
    return r;
  if (info) {
    memset(info, 0, 128);
    if (r > 0) {
      int32_t signo = SIGCHLD_L, code = st.kind == PVM_WAIT_EXIT ? 1 : 2;  /* CLD_EXITED, CLD_KILLED */
      int32_t pid = (int32_t)r, status = st.kind == PVM_WAIT_EXIT ? (st.code & 0xff) : st.code;
      memcpy(info, &signo, 4);
      memcpy(info + 8, &code, 4);
      memcpy(info + 16, &pid, 4);
      memcpy(info + 24, &status, 4);
    }
  }
  return 0;
}

long linux_kill(int64_t pid, long sig)
{
  int code = sig & LINUX_KILL_TKILL ? -6 : 0;  /* si_code SI_TKILL or SI_USER */
  sig &= ~(long)LINUX_KILL_TKILL;
  if (sig < 0 || sig > 64)
    return -L_EINVAL;
  uint64_t self = linux_boot->id;
  if (pid <= 0) {
    linux_trace_unserved(62);  /* process groups and "everyone": not served */
    return -L_ESRCH;
  }
  if ((uint64_t)pid == self) {
    if (sig == SIGKILL_L)
      linux_exit(128 + (int)sig);  /* the default action ends the process, as a shell sees it */
    if (sig != 0)
      linux_signal_raise((int)sig, code, (int)self);  /* delivered before kill returns (signal.c) */
    return 0;
  }
  int i = child_find((uint64_t)pid);
  if (sig == 0)
    return i >= 0 ? 0 : -L_ESRCH;  /* only children can be asked about without a signal */
  if (sig == SIGSTOP_L || (sig >= 20 && sig <= 22))
    return 0;  /* nothing to do: no job control */
  if (sig > 63)
    return 0;  /* not carried (the pVM signal word has bits 1..63): as if ignored */
  /* The Linux number is the pVM signal's (TERM, KILL, USR1, USR2 are the same numbers):
   * the target's monitor runs its default unless the target catches it (caught_signals). */
  long r = pvm_hypercall2(PVM_HC_KILL, pid, sig);
  if (r == -PVM_EPERM) return -L_EPERM;
  if (r < 0) return -L_ESRCH;
  if (i >= 0) children[i].sig = (int)sig;
  return 0;
}
