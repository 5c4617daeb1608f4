#include "monitor/fork.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/wire_errno.h"
#include "monitor/blocking.h"
#include "monitor/boot_setup.h"
#include "monitor/clock.h"
#include "monitor/fork_child.h"
#include "monitor/hypercalls.h"
#include "monitor/spares.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// What FORK returns for a host errno: only its documented errors (abi.json), and
// ENOMEM for the rest: the resources for a child could not be had.
int64_t GuestErrno(int sys_errno) {
  int64_t e = WireErrno(sys_errno, PVM_ENOMEM);
  return e == -PVM_EAGAIN || e == -PVM_EFAULT ? e : -PVM_ENOMEM;
}

void Report(Monitor* m, uint64_t tag, int64_t error, const ctl::Forked* done = nullptr, const int* fds = nullptr,
            int nfds = 0) {
  ctl::Forked f{};
  if (done) f = *done;
  f.tag = tag;
  f.error = error;
  m->control.SendForked(f, fds, nfds);
}

}  // namespace

ForkResult ForkPvm(Monitor* m, ForkOrigin origin, uint64_t tag, uint64_t channel_out_gpa) {
  uint64_t pause_start_ns = MonotonicNs();
  // Paused while the clone is made; running again on every way out (in the child too,
  // where m->identity is the child's by then).
  SetActivity(m, kActivityFork);
  struct Resume {
    Monitor* m;
    ~Resume() { SetActivity(m, kActivityRunning); }
  } resume{m};
  RaceDelay();
  ForkResult result;
  auto refuse = [&](int64_t guest_error, int sys_errno) {
    if (origin == ForkOrigin::Host) Report(m, tag, WireErrno(sys_errno, PVM_ENOMEM));
    else if (guest_error != 0) Report(m, 0, WireErrno(sys_errno, PVM_ENOMEM));
    result.value = guest_error;
    return result;
  };

  if (origin == ForkOrigin::Guest && channel_out_gpa != 0 && !m->backend->memory().GuestBuffer(channel_out_gpa, 4)) {
    result.value = -PVM_EFAULT;  // the guest's mistake: nothing to tell the host
    return result;
  }
  // Like processes, children a guest has not waited for yet count against its limit; and
  // the host's limit on pVMs at once holds for every fork (a fork bomb stops there).
  if (origin == ForkOrigin::Guest && m->family.children.size() >= kMaxChildren) return refuse(-PVM_EAGAIN, EAGAIN);
  if (m->registry.Full()) return refuse(-PVM_EAGAIN, EAGAIN);
  ForkPieces p;
  Failure why;
  // A channel only if the caller asked for one: the host always, a guest with channel_out.
  bool wants_channel = origin == ForkOrigin::Host || channel_out_gpa != 0;
  if (wants_channel && !m->backend->maps_regions()) return refuse(-PVM_ENOSYS, ENOSYS);
  if (wants_channel) {
    p.slot = m->channels->FreeSlot();
    if (p.slot < 0) return refuse(-PVM_EAGAIN, EAGAIN);
  }
  TakeSparePieces(m, wants_channel, &p);  // ready-made, if a spare has them
  if (wants_channel && p.channel.memfd < 0 && !CreateChannel(&p.channel, m->backend->region_pages(), &why)) {
    DiscardPieces(&p);
    return refuse(GuestErrno(why.sys_errno), why.sys_errno ? why.sys_errno : ENOMEM);
  }
  if (p.control[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p.control) != 0) {
    int err = errno;
    DiscardPieces(&p);
    return refuse(GuestErrno(err), err);
  }
  std::unique_ptr<SavedState> state = m->backend->SaveState(&why);
  if (!state) {
    DiscardPieces(&p);
    // A backend that cannot fork says ENOSYS: the guest gets it too.
    if (why.sys_errno == ENOSYS) return refuse(-PVM_ENOSYS, ENOSYS);
    return refuse(-PVM_ENOMEM, EIO);
  }
  p.child_id = m->registry.NextId();
  m->registry.Add(p.child_id, m->identity.id, 0);  // before it runs: it may KILL or be killed

  // Through the warm spare if there is one and little has changed since it was made.
  ctl::Forked done{};
  done.fallback = m->spares.enabled ? ctl::kForkNoSpare : ctl::kForkSparesOff;
  pid_t pid = -1;
  int pidfd = -1;
  ForkViaSpare(m, origin, p, *state, pause_start_ns, channel_out_gpa, &done, &pid, &pidfd);
  SparesAfterFork(m);

  if (pid < 0) {
    pid_t parent_pid = getpid();
    if (!m->backend->BeforeFork(&why)) {
      m->registry.Remove(p.child_id);
      DiscardPieces(&p);
      return refuse(-PVM_ENOMEM, EIO);
    }
    pid = ForkWithPidfd(&pidfd);
    if (pid != 0) m->backend->AfterForkInParent();
    if (int path = m->backend->fork_path(); path >= 0) done.fallback = static_cast<uint32_t>(path);
    if (pid < 0) {
      int err = errno;
      m->registry.Remove(p.child_id);
      DiscardPieces(&p);
      return refuse(GuestErrno(err), err);
    }
    if (pid == 0) {
      CloseFd(&p.control[0]);
      // Our own control socket first, so a failure below is reported to the host.
      if (dup2(p.control[1], ctl::kControlFd) < 0) _exit(1);
      CloseFd(&p.control[1]);
      DetachFromParent(m, parent_pid, /*can_report=*/true);
      TakeOver(m, origin, parent_pid, ctl::kControlFd, &p, state.get(), pause_start_ns, channel_out_gpa);
      result.in_child = true;
      return result;
    }
  }

  // The parent.
  m->registry.SetPid(p.child_id, pid);
  CloseFd(&p.control[1]);
  int child_pidfd = pidfd >= 0 ? fcntl(pidfd, F_DUPFD_CLOEXEC, 0) : -1;
  if (pidfd < 0 || child_pidfd < 0) {
    // Only if out of fds: the pidfd was opened before the child could be reaped.
    int err = errno;
    if (pidfd >= 0) {
      syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      close(pidfd);
    }
    m->registry.MarkEnded(p.child_id, PVM_WAIT_KILLED, PVM_SIGKILL);
    DiscardPieces(&p);
    return refuse(-PVM_ENOMEM, err);
  }
  // The guest waits for the children it forked; those the host forked are the host's.
  if (origin == ForkOrigin::Guest) m->family.children.push_back(Family::Child{p.child_id, child_pidfd});
  else close(child_pidfd);
  done.child_id = p.child_id;
  done.child_pid = static_cast<uint64_t>(pid);
  done.pause_start_ns = pause_start_ns;
  done.channel_slot = p.slot >= 0 ? static_cast<uint32_t>(p.slot) : kNoChannel;
  if (origin == ForkOrigin::Guest && p.slot >= 0) {
    ChannelEnd end;
    end.peer_id = p.child_id;
    end.side = PVM_CHANNEL_SIDE_A;
    end.memfd = p.channel.memfd;
    end.mem = p.channel.mem;
    end.own_doorbell = p.channel.doorbell_a;
    end.peer_doorbell = p.channel.doorbell_b;
    end.peer_pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 0);
    p.channel = NewChannel{};
    if (!m->channels->Attach(static_cast<uint32_t>(p.slot), end, &why)) {
      // The child runs but cannot be reached: end it rather than leave it half made.
      syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      close(pidfd);
      close(m->family.children.back().pidfd);
      m->family.children.pop_back();
      m->registry.MarkEnded(p.child_id, PVM_WAIT_KILLED, PVM_SIGKILL);
      DiscardPieces(&p);
      return refuse(-PVM_ENOMEM, EIO);
    }
    if (channel_out_gpa) {
      uint32_t slot = static_cast<uint32_t>(p.slot);
      std::memcpy(m->backend->memory().At(channel_out_gpa, 4), &slot, 4);
      MarkMonitorWrite(m, channel_out_gpa, 4);
    }
  }
  done.resume_ns = MonotonicNs();
  if (origin == ForkOrigin::Host) {
    done.host_channel = 1;
    int fds[] = {p.control[0], pidfd, p.channel.memfd, p.channel.doorbell_a, p.channel.doorbell_b};
    Report(m, tag, 0, &done, fds, 5);
  } else {
    int fds[] = {p.control[0], pidfd};
    Report(m, 0, 0, &done, fds, 2);
  }
  close(pidfd);
  DiscardPieces(&p);
  result.value = static_cast<int64_t>(p.child_id);
  return result;
}

HypercallResult ForkHypercall(const VcpuExit& x, Monitor* m) {
  ForkResult r = ForkPvm(m, ForkOrigin::Guest, 0, x.args[0]);
  // The child's vCPU was restored with the result 0 already; its registers are not to be
  // touched through the old exit.
  if (r.in_child) return NoCompletion(HypercallResult::Then::InChild);
  return Return(static_cast<uint64_t>(r.value));
}

}  // namespace pvm::monitor
