#include "monitor/fork.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "monitor/boot_setup.h"
#include "monitor/clock.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

int64_t GuestErrno(int sys_errno) {
  switch (sys_errno) {
    case ENOMEM: return -PVM_ENOMEM;
    case EAGAIN: return -PVM_EAGAIN;
    case EFAULT: return -PVM_EFAULT;
    default: return -PVM_ENOMEM;  // the resources for a child could not be had
  }
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// What both sides share until fork(2) and then split.
struct Pieces {
  int slot = -1;
  NewChannel channel;
  int control[2] = {-1, -1};  // [0] the host's end, [1] the child's
  uint64_t child_id = 0;
};

void Discard(Pieces* p) {
  DestroyChannel(&p->channel);
  CloseFd(&p->control[0]);
  CloseFd(&p->control[1]);
}

void Report(Monitor* m, uint64_t tag, int64_t error, const ctl::Forked* done = nullptr, const int* fds = nullptr,
            int nfds = 0) {
  ctl::Forked f{};
  if (done) f = *done;
  f.tag = tag;
  f.error = error;
  m->control.SendForked(f, fds, nfds);
}

// The child's side, right after fork(2). Never returns on failure: a child that cannot
// become a pVM reports why and ends; the parent is not affected.
void BecomeChild(Monitor* m, ForkOrigin origin, pid_t parent_pid, Pieces* p, SavedState* state,
                 uint64_t pause_start_ns, uint64_t channel_out_gpa) {
  // Die with the parent monitor, like the parent dies with the host.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent_pid) _exit(0);
  // The new control socket replaces the parent's on the well-known fd.
  if (dup2(p->control[1], ctl::kControlFd) < 0) _exit(1);
  CloseFd(&p->control[1]);
  CloseFd(&p->control[0]);
  m->host_requests.Clear();  // the parent's to serve
  m->host_waiting = false;
  m->started = false;
  m->stats = Stats{};
  m->stats.monitor_start_ns = pause_start_ns;

  Failure why;
  auto fail = [&](const Failure& f) {
    m->control.SendError(f);
    _exit(1);
  };
  // The parent's channels and children are not ours: forget them, then a VM of our own.
  m->channels->DropChannels();
  for (const auto& c : m->children) close(c.pidfd);
  m->children.clear();
  if (m->parent_exit_bell >= 0) close(m->parent_exit_bell);
  m->parent_exit_bell = m->child_exit_bell;  // we ring the parent's when we end
  m->child_exit_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  m->pending_signals = 0;
  m->registry.SetPid(p->child_id, getpid());
  if (!m->backend->RebuildAfterFork(&why)) fail(why);
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
    if (!m->channels->Attach(static_cast<uint32_t>(p->slot), end, &why)) fail(why);
  }
  m->channels->Publish();

  m->identity = PvmIdentity{p->child_id, m->identity.id};
  const GuestMemory& ram = m->backend->memory();
  auto put = [&](uint64_t gpa, const void* v, size_t n) {
    if (uint8_t* at = ram.At(gpa, n)) std::memcpy(at, v, n);
  };
  uint32_t slot = p->slot >= 0 ? static_cast<uint32_t>(p->slot) : kNoChannel;
  put(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_ID_OFFSET, &m->identity.id, 8);
  put(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_PARENT_ID_OFFSET, &m->identity.parent_id, 8);
  put(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_FORK_CHANNEL_OFFSET, &slot, 4);
  if (origin == ForkOrigin::Guest) {
    if (channel_out_gpa && p->slot >= 0) put(channel_out_gpa, &slot, 4);
    state->SetHypercallResult(0);  // FORK returns 0 in the child
  }
  if (!m->backend->RestoreState(*state, &why)) fail(why);
  if (!m->control.EnableKick(&why)) fail(why);

  m->stats.vm_ready_ns = MonotonicNs();
  ctl::Ready ready{};
  ready.pid = static_cast<uint64_t>(getpid());
  ready.monitor_start_ns = pause_start_ns;
  ready.vm_ready_ns = m->stats.vm_ready_ns;
  ready.kvm_pvm = m->backend->software_virtualization() ? 1 : 0;
  m->control.SendReady(ready);
}

}  // namespace

ForkResult ForkPvm(Monitor* m, ForkOrigin origin, uint64_t tag, uint64_t channel_out_gpa) {
  uint64_t pause_start_ns = MonotonicNs();
  ForkResult result;
  auto refuse = [&](int64_t guest_error, int sys_errno) {
    if (origin == ForkOrigin::Host) Report(m, tag, -sys_errno);
    else if (guest_error != 0) Report(m, 0, -sys_errno);
    result.value = guest_error;
    return result;
  };

  if (origin == ForkOrigin::Guest && channel_out_gpa != 0 && !m->backend->memory().GuestBuffer(channel_out_gpa, 4)) {
    result.value = -PVM_EFAULT;  // the guest's mistake: nothing to tell the host
    return result;
  }
  // Like processes, children a guest has not waited for yet count against its limit.
  if (origin == ForkOrigin::Guest && m->children.size() >= kMaxChildren) return refuse(-PVM_EAGAIN, EAGAIN);
  Pieces p;
  Failure why;
  // A channel only if the caller asked for one: the host always, a guest with channel_out.
  if (origin == ForkOrigin::Host || channel_out_gpa != 0) {
    p.slot = m->channels->FreeSlot();
    if (p.slot < 0) return refuse(-PVM_EAGAIN, EAGAIN);
    if (!CreateChannel(&p.channel, &why)) {
      return refuse(GuestErrno(why.sys_errno), why.sys_errno ? why.sys_errno : ENOMEM);
    }
  }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p.control) != 0) {
    int err = errno;
    Discard(&p);
    return refuse(GuestErrno(err), err);
  }
  std::unique_ptr<SavedState> state = m->backend->SaveState(&why);
  if (!state) {
    Discard(&p);
    return refuse(-PVM_ENOMEM, EIO);
  }
  p.child_id = m->registry.NextId();
  m->registry.Add(p.child_id, m->identity.id, 0);  // before it runs: it may KILL or be killed
  pid_t parent_pid = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    m->registry.Remove(p.child_id);
    Discard(&p);
    return refuse(GuestErrno(err), err);
  }
  if (pid == 0) {
    BecomeChild(m, origin, parent_pid, &p, state.get(), pause_start_ns, channel_out_gpa);
    result.in_child = true;
    return result;
  }

  // The parent.
  m->registry.SetPid(p.child_id, pid);
  CloseFd(&p.control[1]);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  int child_pidfd = pidfd >= 0 ? fcntl(pidfd, F_DUPFD_CLOEXEC, 0) : -1;
  if (pidfd < 0 || child_pidfd < 0) {
    // Only if the child is gone already (reaped: SIGCHLD is ignored) or out of fds.
    int err = errno;
    kill(pid, SIGKILL);
    if (pidfd >= 0) close(pidfd);
    m->registry.MarkEnded(p.child_id, 2, PVM_SIGKILL);
    Discard(&p);
    return refuse(-PVM_ENOMEM, err);
  }
  // The guest waits for the children it forked; those the host forked are the host's.
  if (origin == ForkOrigin::Guest) m->children.push_back(Monitor::Child{p.child_id, child_pidfd});
  else close(child_pidfd);
  ctl::Forked done{};
  done.child_id = p.child_id;
  done.child_pid = static_cast<uint64_t>(pid);
  done.pause_start_ns = pause_start_ns;
  done.channel_slot = p.slot >= 0 ? static_cast<uint32_t>(p.slot) : kNoChannel;
  if (origin == ForkOrigin::Guest && p.slot < 0) {
    done.resume_ns = MonotonicNs();
    int fds[] = {p.control[0], pidfd};
    Report(m, 0, 0, &done, fds, 2);
  } else if (origin == ForkOrigin::Guest) {
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
      close(m->children.back().pidfd);
      m->children.pop_back();
      m->registry.MarkEnded(p.child_id, 2, PVM_SIGKILL);
      Discard(&p);
      return refuse(-PVM_ENOMEM, EIO);
    }
    if (channel_out_gpa) {
      uint32_t slot = static_cast<uint32_t>(p.slot);
      std::memcpy(m->backend->memory().At(channel_out_gpa, 4), &slot, 4);
    }
    done.resume_ns = MonotonicNs();
    int fds[] = {p.control[0], pidfd};
    Report(m, 0, 0, &done, fds, 2);
  } else {
    done.host_channel = 1;
    done.resume_ns = MonotonicNs();
    int fds[] = {p.control[0], pidfd, p.channel.memfd, p.channel.doorbell_a, p.channel.doorbell_b};
    Report(m, tag, 0, &done, fds, 5);
  }
  close(pidfd);
  Discard(&p);
  result.value = static_cast<int64_t>(p.child_id);
  return result;
}

}  // namespace pvm::monitor
