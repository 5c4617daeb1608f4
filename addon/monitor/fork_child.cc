#include "monitor/fork_child.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "monitor/blocking.h"
#include "monitor/ready.h"
#include "monitor/reset.h"
#include "monitor/boot_setup.h"
#include "monitor/channels.h"
#include "monitor/clock.h"
#include "monitor/clone_identity.h"
#include "monitor/transport.h"
#include "monitor/spares.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

void SetChildSignal(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigaction(SIGCHLD, &sa, nullptr);
}

// Failed in the forked process, before it could run the guest.
[[noreturn]] void Die(Monitor* m, const Failure& f, bool can_report) {
  if (can_report) m->control.SendError(f);
  _exit(1);
}

}  // namespace

// Monitors ignore SIGCHLD (the kernel reaps their children), so a child that ends at
// once could be gone, and its pid even reused, before pidfd_open. SIGCHLD is default
// just for that window; whatever ended in it is reaped after.
pid_t ForkWithPidfd(int* pidfd) {
  *pidfd = -1;
  SetChildSignal(SIG_DFL);
  pid_t pid = fork();
  if (pid == 0) {
    SetChildSignal(SIG_IGN);
    return 0;
  }
  int err = errno;
  if (pid > 0) {
    *pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    err = errno;
    if (*pidfd < 0) kill(pid, SIGKILL);  // cannot be watched: end it while its pid is ours
  }
  SetChildSignal(SIG_IGN);
  siginfo_t info{};
  while (waitid(P_ALL, 0, &info, WEXITED | WNOHANG) == 0 && info.si_pid != 0) info = siginfo_t{};
  errno = err;
  return pid;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

void DiscardPieces(ForkPieces* p) {
  DestroyChannel(&p->channel);
  CloseFd(&p->control[0]);
  CloseFd(&p->control[1]);
}

void DetachFromParent(Monitor* m, pid_t parent_pid, bool can_report) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with the parent monitor, as it dies with the host
  if (getppid() != parent_pid) _exit(0);
  m->host.requests.Clear();  // the parent's to serve
  m->host.waiting = false;
  m->channels->DropChannels();
  for (const auto& c : m->family.children) close(c.pidfd);
  m->family.children.clear();
  if (m->spares.spare.pid > 0) ForgetSpare(m);  // a spare of the parent's is not ours (only ever one, theirs)
  ForgetResetPoint(m);  // so is its keeper
  if (m->family.parent_exit_bell >= 0) close(m->family.parent_exit_bell);
  m->family.parent_exit_bell = m->family.child_exit_bell;  // we ring the parent's when we end
  m->family.child_exit_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  m->family.pending_signals = 0;
  Failure why;
  if (DirtyLog* log = m->backend->dirty_log()) {
    // Best effort: the child's spares (if any) turn it on again in TakeOver.
    log->SetLogging(false, &why);
  }
  if (!m->backend->AfterForkInChild(&why)) Die(m, why, can_report);
}

// The second half: the detached process becomes pVM child_id and runs state.
void TakeOver(Monitor* m, ForkOrigin origin, pid_t parent_pid, int control_fd, ForkPieces* p, SavedState* state,
              uint64_t pause_start_ns, uint64_t channel_out_gpa) {
  // The new control socket goes on the well-known fd.
  if (dup2(control_fd, ctl::kControlFd) < 0) _exit(1);
  if (control_fd != ctl::kControlFd) close(control_fd);
  m->started = false;
  m->stats = Stats{};
  m->stats.monitor_start_ns = pause_start_ns;
  m->registry.SetPid(p->child_id, getpid());
  Failure why;
  if (p->slot >= 0) {
    ChannelEnd end;
    end.peer_id = origin == ForkOrigin::Guest ? m->identity.id : PVM_CHANNEL_PEER_HOST;
    end.side = PVM_CHANNEL_SIDE_B;
    end.memfd = p->channel.memfd;
    end.mem = p->channel.mem;
    end.own_doorbell = p->channel.doorbell_b;
    end.peer_doorbell = p->channel.doorbell_a;
    // Watch the parent's monitor, to close the channel for it should it crash.
    if (origin == ForkOrigin::Guest) end.peer_pidfd = static_cast<int>(syscall(SYS_pidfd_open, parent_pid, 0));
    p->channel = NewChannel{};
    if (!m->channels->Attach(static_cast<uint32_t>(p->slot), end, &why)) Die(m, why, true);
  }
  m->channels->Publish();
  // Standard input: the child's own, empty (a spare's copy of the parent's is stale).
  // Open for the host to write after a host fork of a pVM that had input from it; at its
  // end after a guest's fork (the Linux personality copies what its parent had taken).
  m->input = StdinState{};
  m->input.ended = origin == ForkOrigin::Guest || !m->input_from_host;

  m->identity.parent_id = m->identity.id;
  m->identity.id = p->child_id;
  const GuestMemory& ram = m->backend->memory();
  auto put = [&](uint64_t gpa, const void* v, size_t n) {
    if (uint8_t* at = ram.At(gpa, n)) std::memcpy(at, v, n);
  };
  uint32_t slot = p->slot >= 0 ? static_cast<uint32_t>(p->slot) : kNoChannel;
  put(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_ID_OFFSET, &m->identity.id, 8);
  put(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_PARENT_ID_OFFSET, &m->identity.parent_id, 8);
  put(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_FORK_CHANNEL_OFFSET, &slot, 4);
  uint64_t no_signals = 0;
  put(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_PENDING_SIGNALS_OFFSET, &no_signals, 8);
  MakeCloneUnique(m, ram);
  if (origin == ForkOrigin::Guest) {
    if (channel_out_gpa && p->slot >= 0) put(channel_out_gpa, &slot, 4);
    WriteHypercallResult(ram, 0);  // FORK returns 0 in the child
  }
  ArmResetPoint(m, *state, slot);  // RAM is as the child starts: the fork point
  if (!m->backend->RestoreState(*state, &why)) Die(m, why, true);
  RaceDelay();  // the host may write to the new socket before it can kick
  if (!m->control.EnableKick(&why)) Die(m, why, true);
  // What the host sent before O_ASYNC was set raised no kick: look at the socket first.
  m->host.waiting = true;
  // A host fork: the guest must look at its fork channel, and it may be anywhere between
  // looking and sleeping in WAIT (xen: the guest runs on while its monitor serves the
  // host, so the clone may be made in a WAIT it issued after the one the fork request
  // woke, which it then makes again): its next WAIT returns at once.
  if (origin == ForkOrigin::Host) m->host.wake_next_wait = true;
  // A child of a pVM with spares gets them too (made at its own first chance).
  if (m->spares.enabled) {
    m->spares.last_fork_ns = 0;  // the parent's rhythm is not ours
    m->spares.delay_ns = 0;
    m->spares.want = true;
    m->spares.want_at_ns = MonotonicNs() + kSpareDelayNs;
    if (!m->backend->dirty_log()->SetLogging(true, &why)) m->spares.enabled = false;
  }

  SendReady(m, pause_start_ns);
}

}  // namespace pvm::monitor
