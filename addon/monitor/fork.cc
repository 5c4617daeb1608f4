#include "monitor/fork.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/control_io.h"
#include "common/wire_errno.h"
#include "monitor/blocking.h"
#include "monitor/boot_setup.h"
#include "monitor/clock.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

void SetChildSignal(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigaction(SIGCHLD, &sa, nullptr);
}

// fork(2) that also gives the parent a pidfd of the child, opened before the child can
// have been reaped. Monitors ignore SIGCHLD (the kernel reaps their children), so a
// child that ends at once could be gone, and its pid even reused, before pidfd_open.
// SIGCHLD is default just for that window; whatever ended in it is reaped after.
// In the child, *pidfd is -1; on failure -1 is returned with errno set. If the pidfd
// cannot be had (out of fds), the child is killed and *pidfd is -1 with errno set.
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

// Pages a fork through a spare copies at most; past that a plain fork is cheaper.
constexpr size_t kMaxSparePages = 4096;  // 16 MiB
// The transfer area: a header (the vCPU state), the page numbers, then the pages.
constexpr size_t kXferStateBytes = 64 << 10;
constexpr size_t kXferIndexBytes = kMaxSparePages * sizeof(uint64_t);
constexpr size_t kXferSize = kXferStateBytes + kXferIndexBytes + kMaxSparePages * PVM_PAGE_SIZE;

// What FORK returns for a host errno: only its documented errors (abi.json), and
// ENOMEM for the rest: the resources for a child could not be had.
int64_t GuestErrno(int sys_errno) {
  int64_t e = WireErrno(sys_errno, PVM_ENOMEM);
  return e == -PVM_EAGAIN || e == -PVM_EFAULT ? e : -PVM_ENOMEM;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// What parent and child share until they split.
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

// A process that has just been forked from a pVM's monitor (a child, or a spare that
// will become one) lets go of what is the parent's and builds a VM of its own over the
// inherited copy-on-write RAM. It must not touch the parent's control socket.
[[noreturn]] void Die(Monitor* m, const Failure& f, bool can_report) {
  if (can_report) m->control.SendError(f);
  _exit(1);
}

// Lets go of the spare's fds and the pieces made for it (without signalling it).
void ForgetSpare(Monitor* m) {
  close(m->spare.pidfd);
  close(m->spare.sock);
  DestroyChannel(&m->spare.channel);
  CloseFd(&m->spare.control[0]);
  CloseFd(&m->spare.control[1]);
  m->spare = Monitor::Spare{};
}

void DetachFromParent(Monitor* m, pid_t parent_pid, bool can_report) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // die with the parent monitor, as it dies with the host
  if (getppid() != parent_pid) _exit(0);
  m->host_requests.Clear();  // the parent's to serve
  m->host_waiting = false;
  m->channels->DropChannels();
  for (const auto& c : m->children) close(c.pidfd);
  m->children.clear();
  if (m->spare.pid > 0) ForgetSpare(m);  // a spare of the parent's is not ours (only ever one, theirs)
  if (m->parent_exit_bell >= 0) close(m->parent_exit_bell);
  m->parent_exit_bell = m->child_exit_bell;  // we ring the parent's when we end
  m->child_exit_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  m->pending_signals = 0;
  Failure why;
  if (!m->backend->SetDirtyLogging(false, &why)) {
    // Off in the rebuilt VM anyway: the flag only decides how the memslot is made.
  }
  if (!m->backend->RebuildAfterFork(&why)) Die(m, why, can_report);
}

// The second half: the detached process becomes pVM child_id and runs state.
void TakeOver(Monitor* m, ForkOrigin origin, pid_t parent_pid, int control_fd, Pieces* p, SavedState* state,
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

  m->identity = PvmIdentity{p->child_id, m->identity.id};
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
  if (origin == ForkOrigin::Guest) {
    if (channel_out_gpa && p->slot >= 0) put(channel_out_gpa, &slot, 4);
    state->SetHypercallResult(0);  // FORK returns 0 in the child
  }
  if (!m->backend->RestoreState(*state, &why)) Die(m, why, true);
  RaceDelay();  // the host may write to the new socket before it can kick
  if (!m->control.EnableKick(&why)) Die(m, why, true);
  // What the host sent before O_ASYNC was set raised no kick: look at the socket first.
  m->host_waiting = true;
  // A child of a pVM with spares gets them too (made at its own first chance).
  if (m->spares_enabled) {
    m->want_spare = true;
    m->want_spare_at_ns = MonotonicNs() + kSpareDelayNs;
    if (!m->backend->SetDirtyLogging(true, &why)) m->spares_enabled = false;
  }

  m->stats.vm_ready_ns = MonotonicNs();
  ctl::Ready ready{};
  ready.pid = static_cast<uint64_t>(getpid());
  ready.monitor_start_ns = pause_start_ns;
  ready.vm_ready_ns = m->stats.vm_ready_ns;
  std::snprintf(ready.backend, sizeof ready.backend, "%s", m->backend->name());
  ready.backend_flags = m->backend->software_virtualization() ? ctl::kReadyKvmPvm : 0;
  m->control.SendReady(ready);
}

// What the parent sends a spare to make it the child.
struct Activate {
  uint64_t child_id;
  uint64_t pause_start_ns;
  uint64_t channel_out_gpa;
  uint32_t origin;  // ForkOrigin
  int32_t slot;
  uint64_t pages;        // page numbers in the transfer area, then the pages
  uint64_t state_bytes;  // serialized vCPU state at the start of the transfer area
};

// The spare's life: wait for Activate, copy the pages in, become the child. Returns
// only as the child (the caller's loop goes on as that pVM).
void WaitAsSpare(Monitor* m, pid_t parent_pid, int sock, uint8_t* xfer) {
  // First what the fork will need (sent right after we were made), then, when the fork
  // comes, Activate: a small message, so the parent's pause is short.
  ctl::Message pieces;
  if (ctl::receive(sock, &pieces, /*nonblocking=*/false) != 1 || pieces.type != ctl::Type::SparePieces ||
      pieces.fds.empty()) {
    _exit(0);
  }
  ctl::Message msg;
  int rc = ctl::receive(sock, &msg, /*nonblocking=*/false);
  const Activate* a = rc == 1 && msg.type == ctl::Type::Activate ? msg.as<Activate>() : nullptr;
  if (!a || a->pages > kMaxSparePages || a->state_bytes > kXferStateBytes) _exit(0);
  Activate act = *a;
  close(sock);
  // The parent's RAM as of now: ours is as of when we were forked, plus these pages.
  const uint64_t* index = reinterpret_cast<const uint64_t*>(xfer + kXferStateBytes);
  const uint8_t* data = xfer + kXferStateBytes + kXferIndexBytes;
  const GuestMemory& ram = m->backend->memory();
  for (uint64_t i = 0; i < act.pages; i++) {
    if (uint8_t* page = ram.At(index[i] * PVM_PAGE_SIZE, PVM_PAGE_SIZE)) {
      std::memcpy(page, data + i * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
    }
  }
  std::vector<int>& fds = pieces.fds;
  Failure why;
  std::unique_ptr<SavedState> state = m->backend->LoadState(xfer, act.state_bytes, &why);
  munmap(xfer, kXferSize);
  if (!state) _exit(1);
  Pieces p;
  p.child_id = act.child_id;
  p.slot = act.slot;
  if (act.slot >= 0 && fds.size() == 4) {
    p.channel.memfd = fds[1];
    p.channel.doorbell_a = fds[2];
    p.channel.doorbell_b = fds[3];
    void* mem = mmap(nullptr, PVM_CHANNEL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, p.channel.memfd, 0);
    if (mem == MAP_FAILED) _exit(1);
    p.channel.mem = static_cast<uint8_t*>(mem);
  } else {
    for (size_t i = 1; i < fds.size(); i++) close(fds[i]);  // this fork wanted no channel
  }
  TakeOver(m, static_cast<ForkOrigin>(act.origin), parent_pid, fds[0], &p, state.get(), act.pause_start_ns,
           act.channel_out_gpa);
}

}  // namespace

void KillSpare(Monitor* m) {
  if (m->spare.pid <= 0) return;
  syscall(SYS_pidfd_send_signal, m->spare.pidfd, SIGKILL, nullptr, 0);
  ForgetSpare(m);
  m->control.SendSpare(0);
}

void RenewSpare(Monitor* m) {
  if (!m->spares_enabled) return;
  KillSpare(m);
  m->want_spare = true;
  m->want_spare_at_ns = MonotonicNs() + kSpareDelayNs;
}

ForkResult MakeSpare(Monitor* m) {
  ForkResult result;
  m->want_spare = false;
  if (!m->spares_enabled || m->spare.pid > 0) return result;
  Failure why;
  // Each spare gets a transfer area of its own. One area for all would be overwritten
  // under a reader: a spare activated by the last fork may still be copying from it (it
  // waits to be scheduled) when the guest forks again through the next spare, and a
  // child forked plainly inherits the mapping and would make its spares with it. This
  // process's mapping of the last area goes; whoever still reads it has its own.
  if (m->spare_xfer) {
    munmap(m->spare_xfer, kXferSize);
    m->spare_xfer = nullptr;
  }
  int fd = memfd_create("pvm-spare-xfer", MFD_CLOEXEC);
  void* mem = MAP_FAILED;
  if (fd >= 0 && ftruncate(fd, kXferSize) == 0) {
    mem = mmap(nullptr, kXferSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  }
  if (fd >= 0) close(fd);
  if (mem == MAP_FAILED) return result;  // no spare; forks take the plain path
  m->spare_xfer = static_cast<uint8_t*>(mem);
  // Fault in the part a typical fork uses (state, index, the first 2 MiB of pages) now,
  // not while the parent is paused. Best effort.
  madvise(mem, kXferStateBytes + kXferIndexBytes + (2 << 20), MADV_POPULATE_WRITE);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return result;
  // From here the dirty log counts what the spare will miss.
  std::vector<uint64_t> ignored;
  if (!m->backend->TakeDirtyLog(&ignored, &why)) {
    close(sv[0]);
    close(sv[1]);
    return result;
  }
  m->monitor_dirty.clear();
  pid_t parent_pid = getpid();
  int pidfd = -1;
  pid_t pid = ForkWithPidfd(&pidfd);
  if (pid < 0) {
    close(sv[0]);
    close(sv[1]);
    return result;
  }
  if (pid == 0) {
    close(sv[0]);
    // The parent's control socket goes; a spare never talks to the host before it is a
    // child. Its fd number stays taken (by a copy of our end of the spare socket) until
    // TakeOver puts the child's control socket there: a closed fd 3 would be reused by the
    // next fd made here (the children's exit bell, in DetachFromParent), which TakeOver's
    // dup2 onto fd 3 would then silently replace by the control socket -- WAITPID would
    // read host messages as bell rings, and children would ring the bell into their own
    // control sockets.
    dup2(sv[1], m->control.fd());
    DetachFromParent(m, parent_pid, /*can_report=*/false);
    WaitAsSpare(m, parent_pid, sv[1], m->spare_xfer);
    m->spare_xfer = nullptr;
    result.in_child = true;
    return result;
  }
  close(sv[1]);
  if (pidfd < 0) {
    close(sv[0]);
    return result;
  }
  m->spare.pid = pid;
  m->spare.pidfd = pidfd;
  m->spare.sock = sv[0];
  m->spare.made_ns = MonotonicNs();
  // What the next fork needs anyway, made now rather than while the parent is paused.
  if (!CreateChannel(&m->spare.channel, &why)) m->spare.channel = NewChannel{};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, m->spare.control) != 0) {
    m->spare.control[0] = m->spare.control[1] = -1;
  }
  // The spare gets its copies now; the parent keeps its own (for a plain fork, should
  // this spare not be used after all).
  int pieces[4] = {m->spare.control[1], m->spare.channel.memfd, m->spare.channel.doorbell_a,
                   m->spare.channel.doorbell_b};
  int npieces = m->spare.channel.memfd >= 0 ? 4 : 1;
  if (m->spare.control[1] < 0 ||
      ctl::send(m->spare.sock, ctl::Type::SparePieces, nullptr, 0, nullptr, 0, pieces, npieces) != 0) {
    KillSpare(m);
    return result;
  }
  m->control.SendSpare(static_cast<uint64_t>(pid));
  return result;
}

void MarkMonitorWrite(Monitor* m, uint64_t gpa, uint64_t len) {
  if (!m->spares_enabled || len == 0) return;
  for (uint64_t page = gpa / PVM_PAGE_SIZE; page <= (gpa + len - 1) / PVM_PAGE_SIZE; page++) {
    m->monitor_dirty.push_back(page);
  }
}

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
  if (origin == ForkOrigin::Guest && m->children.size() >= kMaxChildren) return refuse(-PVM_EAGAIN, EAGAIN);
  if (m->registry.Full()) return refuse(-PVM_EAGAIN, EAGAIN);
  Pieces p;
  Failure why;
  // A channel only if the caller asked for one: the host always, a guest with channel_out.
  bool wants_channel = origin == ForkOrigin::Host || channel_out_gpa != 0;
  if (wants_channel) {
    p.slot = m->channels->FreeSlot();
    if (p.slot < 0) return refuse(-PVM_EAGAIN, EAGAIN);
  }
  // The spare's ready-made pieces, else new ones. The spare holds copies of them: a
  // fork that needs a channel the spare lacks cannot go through it.
  bool spare_fits = m->spare.pid > 0 && (!wants_channel || m->spare.channel.memfd >= 0);
  if (m->spare.pid > 0 && !spare_fits) KillSpare(m);
  if (wants_channel && m->spare.channel.memfd >= 0) std::swap(p.channel, m->spare.channel);
  if (m->spare.control[0] >= 0) std::swap(p.control, m->spare.control);
  if (wants_channel && p.channel.memfd < 0 && !CreateChannel(&p.channel, &why)) {
    Discard(&p);
    return refuse(GuestErrno(why.sys_errno), why.sys_errno ? why.sys_errno : ENOMEM);
  }
  if (p.control[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p.control) != 0) {
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

  // Through the warm spare if there is one and little has changed since it was made.
  ctl::Forked done{};
  done.fallback = m->spares_enabled ? ctl::kForkNoSpare : ctl::kForkSparesOff;
  pid_t pid = -1;
  int pidfd = -1;
  if (m->spare.pid > 0) {
    std::vector<uint64_t> pages;
    bool logged = m->backend->TakeDirtyLog(&pages, &why);
    pages.insert(pages.end(), m->monitor_dirty.begin(), m->monitor_dirty.end());
    pages.push_back(PVM_BOOT_INFO_GPA / PVM_PAGE_SIZE);  // the monitor writes it at every exit
    pages.push_back(PVM_KVM_PVM_VIF_GPA / PVM_PAGE_SIZE);  // kvm_pvm's, written by the kernel
    std::sort(pages.begin(), pages.end());
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
    std::vector<uint8_t> bytes;
    state->Serialize(&bytes);
    if (!logged) {
      done.fallback = ctl::kForkSpareFailed;
    } else if (pages.size() > kMaxSparePages || bytes.size() > kXferStateBytes) {
      done.fallback = ctl::kForkTooDirty;
    } else {
      uint8_t* x = m->spare_xfer;
      std::memcpy(x, bytes.data(), bytes.size());
      std::memcpy(x + kXferStateBytes, pages.data(), pages.size() * sizeof(uint64_t));
      const GuestMemory& ram = m->backend->memory();
      uint8_t* data = x + kXferStateBytes + kXferIndexBytes;
      for (size_t i = 0; i < pages.size(); i++) {
        std::memcpy(data + i * PVM_PAGE_SIZE, ram.At(pages[i] * PVM_PAGE_SIZE, PVM_PAGE_SIZE), PVM_PAGE_SIZE);
      }
      Activate act{p.child_id, pause_start_ns, channel_out_gpa, static_cast<uint32_t>(origin), p.slot,
                   pages.size(), bytes.size()};
      if (ctl::send(m->spare.sock, ctl::Type::Activate, &act, sizeof act) == 0) {
        pid = m->spare.pid;
        pidfd = m->spare.pidfd;
        close(m->spare.sock);
        DestroyChannel(&m->spare.channel);  // made for a fork that wanted one; this did not
        m->spare = Monitor::Spare{};
        done.via_spare = 1;
        done.fallback = ctl::kForkViaSpare;
        done.copied_pages = pages.size();
        m->control.SendSpare(0);
      } else {
        done.fallback = ctl::kForkSpareFailed;
      }
    }
    // A spare the dirty log was taken for is stale now: a new one comes later.
    if (!done.via_spare) KillSpare(m);
  }
  if (m->spares_enabled) {
    m->want_spare = true;
    m->want_spare_at_ns = MonotonicNs() + kSpareDelayNs;
  }

  if (pid < 0) {
    pid_t parent_pid = getpid();
    pid = ForkWithPidfd(&pidfd);
    if (pid < 0) {
      int err = errno;
      m->registry.Remove(p.child_id);
      Discard(&p);
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
    Discard(&p);
    return refuse(-PVM_ENOMEM, err);
  }
  // The guest waits for the children it forked; those the host forked are the host's.
  if (origin == ForkOrigin::Guest) m->children.push_back(Monitor::Child{p.child_id, child_pidfd});
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
      close(m->children.back().pidfd);
      m->children.pop_back();
      m->registry.MarkEnded(p.child_id, PVM_WAIT_KILLED, PVM_SIGKILL);
      Discard(&p);
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
  Discard(&p);
  result.value = static_cast<int64_t>(p.child_id);
  return result;
}

}  // namespace pvm::monitor
