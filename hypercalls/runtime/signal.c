/*
 * pVM signals, kill and waitpid (hypercalls KILL, SIGNALS, WAITPID; signals in abi.json).
 * A signal for the guest (USR1, USR2) makes its blocking calls return -PVM_EINTR. If the
 * guest set a handler for every pending signal, the runtime runs them and the blocking
 * call goes on (like SA_RESTART); otherwise -PVM_EINTR reaches the caller, who takes the
 * signals with pvm_signals().
 */
#include <pvm.h>

static pvm_signal_handler handlers[64];

int pvm_signal(int sig, pvm_signal_handler handler)
{
  if (sig != PVM_SIGUSR1 && sig != PVM_SIGUSR2)
    return -PVM_EINVAL;
  handlers[sig] = handler;
  return 0;
}

uint64_t pvm_signals(void)
{
  /* Where the monitor offers it, the boot-info word is the only record of pending
   * signals and taking them is an atomic exchange: no exit (a WAIT that returned
   * -PVM_EINTR already posted them there). Otherwise the SIGNALS hypercall. */
  volatile struct pvm_boot_info *info = (volatile struct pvm_boot_info *)pvm_boot_info();
  if (info->flags & PVM_BOOT_FLAG_SIGNALS_IN_PAGE)
    return __atomic_exchange_n(&info->pending_signals, 0, __ATOMIC_SEQ_CST);
  return (uint64_t)pvm_hypercall0(PVM_HC_SIGNALS);
}

uint64_t pvm_pending_signals(void)
{
  const volatile struct pvm_boot_info *info = pvm_boot_info();
  return info->pending_signals;
}

int pvm_restart_after_eintr(void)
{
  uint64_t pending = pvm_pending_signals();
  for (int sig = 1; sig < 64; sig++) {
    if ((pending >> sig & 1) && !handlers[sig])
      return 0; /* the caller has to see it */
  }
  /* Nothing pending (the monitor was woken for the host) or all handled. */
  if (pending) {
    uint64_t taken = pvm_signals();
    for (int sig = 1; sig < 64; sig++) {
      if ((taken >> sig & 1) && handlers[sig])
        handlers[sig](sig);
    }
  }
  return 1;
}

long pvm_kill(uint64_t id, int sig) { return pvm_hypercall2(PVM_HC_KILL, (long)id, sig); }

long pvm_waitpid(uint64_t id, struct pvm_child_status *status, uint64_t timeout_ns)
{
  /* A restart after a signal or a host request waits only for what is left. */
  uint64_t deadline = 0;
  if (timeout_ns != ~0ULL && timeout_ns != 0) {
    uint64_t now = pvm_time_ns();
    deadline = now + timeout_ns < now ? ~0ULL - 1 : now + timeout_ns;
  }
  for (;;) {
    long r = pvm_hypercall3(PVM_HC_WAITPID, (long)id, (long)status, (long)timeout_ns);
    if (r != -PVM_EINTR || !pvm_restart_after_eintr())
      return r;
    if (deadline) {
      uint64_t now = pvm_time_ns();
      if (now >= deadline)
        return -PVM_ETIMEDOUT;
      timeout_ns = deadline - now;
    }
  }
}

long pvm_shm_create(size_t size) { return pvm_hypercall1(PVM_HC_SHM_CREATE, (long)size); }
