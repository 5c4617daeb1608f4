#include "monitor/spares.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/control_io.h"
#include "monitor/clock.h"
#include "monitor/fork_child.h"
#include "monitor/reset.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// Pages a fork through a spare copies at most; past that a plain fork is cheaper.
constexpr size_t kMaxSparePages = 4096;  // 16 MiB
// The transfer area: a header (the vCPU state), the page numbers, then the pages.
constexpr size_t kXferStateBytes = 64 << 10;
constexpr size_t kXferIndexBytes = kMaxSparePages * sizeof(uint64_t);
constexpr size_t kXferSize = kXferStateBytes + kXferIndexBytes + kMaxSparePages * PVM_PAGE_SIZE;

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
  ForkPieces p;
  p.child_id = act.child_id;
  p.slot = act.slot;
  if (act.slot >= 0 && fds.size() == 4) {
    p.channel.memfd = fds[1];
    p.channel.doorbell_a = fds[2];
    p.channel.doorbell_b = fds[3];
    p.channel.mem = MapRegionFd(p.channel.memfd, PVM_CHANNEL_SIZE);
    if (!p.channel.mem) _exit(1);
  } else {
    for (size_t i = 1; i < fds.size(); i++) close(fds[i]);  // this fork wanted no channel
  }
  TakeOver(m, static_cast<ForkOrigin>(act.origin), parent_pid, fds[0], &p, state.get(), act.pause_start_ns,
           act.channel_out_gpa);
}

}  // namespace

// Lets go of the spare's fds and the pieces made for it (without signalling it).
void ForgetSpare(Monitor* m) {
  close(m->spares.spare.pidfd);
  close(m->spares.spare.sock);
  DestroyChannel(&m->spares.spare.channel);
  CloseFd(&m->spares.spare.control[0]);
  CloseFd(&m->spares.spare.control[1]);
  m->spares.spare = Spares::Spare{};
}

void KillSpare(Monitor* m) {
  if (m->spares.spare.pid <= 0) return;
  syscall(SYS_pidfd_send_signal, m->spares.spare.pidfd, SIGKILL, nullptr, 0);
  ForgetSpare(m);
  m->control.SendSpare(0);
}

void RenewSpare(Monitor* m) {
  if (!m->spares.enabled) return;
  KillSpare(m);
  m->spares.want = true;
  m->spares.want_at_ns = MonotonicNs() + kSpareDelayNs;
}

ForkResult MakeSpare(Monitor* m) {
  ForkResult result;
  m->spares.want = false;
  if (!m->spares.enabled || m->spares.spare.pid > 0) return result;
  Failure why;
  // Each spare gets a transfer area of its own. One area for all would be overwritten
  // under a reader: a spare activated by the last fork may still be copying from it (it
  // waits to be scheduled) when the guest forks again through the next spare, and a
  // child forked plainly inherits the mapping and would make its spares with it. This
  // process's mapping of the last area goes; whoever still reads it has its own.
  if (m->spares.xfer) {
    munmap(m->spares.xfer, kXferSize);
    m->spares.xfer = nullptr;
  }
  int fd = memfd_create("pvm-spare-xfer", MFD_CLOEXEC);
  void* mem = MAP_FAILED;
  if (fd >= 0 && ftruncate(fd, kXferSize) == 0) {
    mem = mmap(nullptr, kXferSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  }
  if (fd >= 0) close(fd);
  if (mem == MAP_FAILED) return result;  // no spare; forks take the plain path
  m->spares.xfer = static_cast<uint8_t*>(mem);
  // Fault in the part a typical fork uses (state, index, the first 2 MiB of pages) now,
  // not while the parent is paused. Best effort.
  madvise(mem, kXferStateBytes + kXferIndexBytes + (2 << 20), MADV_POPULATE_WRITE);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return result;
  // From here the dirty log counts what the spare will miss.
  std::vector<uint64_t> ignored;
  if (!TakeDirty(m, &ignored, &why)) {
    close(sv[0]);
    close(sv[1]);
    return result;
  }
  m->spares.monitor_dirty.clear();
  pid_t parent_pid = getpid();
  int pidfd = -1;
  if (!m->backend->BeforeFork(&why)) {
    close(sv[0]);
    close(sv[1]);
    return result;
  }
  pid_t pid = ForkWithPidfd(&pidfd);
  if (pid != 0) m->backend->AfterForkInParent();
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
    WaitAsSpare(m, parent_pid, sv[1], m->spares.xfer);
    m->spares.xfer = nullptr;
    result.in_child = true;
    return result;
  }
  close(sv[1]);
  if (pidfd < 0) {
    close(sv[0]);
    return result;
  }
  m->spares.spare.pid = pid;
  m->spares.spare.pidfd = pidfd;
  m->spares.spare.sock = sv[0];
  m->spares.spare.made_ns = MonotonicNs();
  // What the next fork needs anyway, made now rather than while the parent is paused.
  if (!CreateChannel(&m->spares.spare.channel, m->backend->region_pages(), &why)) m->spares.spare.channel = NewChannel{};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, m->spares.spare.control) != 0) {
    m->spares.spare.control[0] = m->spares.spare.control[1] = -1;
  }
  // The spare gets its copies now; the parent keeps its own (for a plain fork, should
  // this spare not be used after all).
  int pieces[4] = {m->spares.spare.control[1], m->spares.spare.channel.memfd, m->spares.spare.channel.doorbell_a,
                   m->spares.spare.channel.doorbell_b};
  int npieces = m->spares.spare.channel.memfd >= 0 ? 4 : 1;
  if (m->spares.spare.control[1] < 0 ||
      ctl::send(m->spares.spare.sock, ctl::Type::SparePieces, nullptr, 0, nullptr, 0, pieces, npieces) != 0) {
    KillSpare(m);
    return result;
  }
  m->control.SendSpare(static_cast<uint64_t>(pid));
  return result;
}

void SparesAfterFork(Monitor* m) {
  Spares& s = m->spares;
  if (!s.enabled) return;
  uint64_t now = MonotonicNs();
  bool busy = s.last_fork_ns != 0 && now - s.last_fork_ns < kSpareBusyGapNs;
  s.last_fork_ns = now;
  uint64_t delay = s.delay_ns ? s.delay_ns : kSpareDelayNs;
  s.delay_ns = busy ? std::min(delay * 2, kSpareMaxDelayNs) : kSpareDelayNs;
  s.want = true;
  s.want_at_ns = now + s.delay_ns;
}

void MarkMonitorWrite(Monitor* m, uint64_t gpa, uint64_t len) {
  if (!m->spares.enabled || len == 0) return;
  for (uint64_t page = gpa / PVM_PAGE_SIZE; page <= (gpa + len - 1) / PVM_PAGE_SIZE; page++) {
    m->spares.monitor_dirty.push_back(page);
  }
}

void SparesAfterExec(Monitor* m) {
  KillSpare(m);
  m->spares.want = m->spares.enabled;
  m->spares.want_at_ns = MonotonicNs() + kSpareDelayNs;
}

void TakeSparePieces(Monitor* m, bool wants_channel, ForkPieces* p) {
  Spares::Spare& spare = m->spares.spare;
  bool spare_fits = spare.pid > 0 && (!wants_channel || spare.channel.memfd >= 0);
  if (spare.pid > 0 && !spare_fits) KillSpare(m);
  if (wants_channel && spare.channel.memfd >= 0) std::swap(p->channel, spare.channel);
  if (spare.control[0] >= 0) std::swap(p->control, spare.control);
}

void ForkViaSpare(Monitor* m, ForkOrigin origin, const ForkPieces& p, const SavedState& state,
                  uint64_t pause_start_ns, uint64_t channel_out_gpa, ctl::Forked* done, pid_t* pid, int* pidfd) {
  if (m->spares.spare.pid <= 0) return;
  Failure why;
  std::vector<uint64_t> pages;
  bool logged = TakeDirty(m, &pages, &why);
  pages.insert(pages.end(), m->spares.monitor_dirty.begin(), m->spares.monitor_dirty.end());
  pages.push_back(PVM_BOOT_INFO_GPA / PVM_PAGE_SIZE);  // the monitor writes it at every exit
  std::sort(pages.begin(), pages.end());
  pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  std::vector<uint8_t> bytes;
  state.Serialize(&bytes);
  if (!logged) {
    done->fallback = ctl::kForkSpareFailed;
  } else if (pages.size() > kMaxSparePages || bytes.size() > kXferStateBytes) {
    done->fallback = ctl::kForkTooDirty;
  } else {
    uint8_t* x = m->spares.xfer;
    std::memcpy(x, bytes.data(), bytes.size());
    std::memcpy(x + kXferStateBytes, pages.data(), pages.size() * sizeof(uint64_t));
    const GuestMemory& ram = m->backend->memory();
    uint8_t* data = x + kXferStateBytes + kXferIndexBytes;
    for (size_t i = 0; i < pages.size(); i++) {
      std::memcpy(data + i * PVM_PAGE_SIZE, ram.At(pages[i] * PVM_PAGE_SIZE, PVM_PAGE_SIZE), PVM_PAGE_SIZE);
    }
    Activate act{p.child_id, pause_start_ns, channel_out_gpa, static_cast<uint32_t>(origin), p.slot,
                 pages.size(), bytes.size()};
    if (ctl::send(m->spares.spare.sock, ctl::Type::Activate, &act, sizeof act) == 0) {
      *pid = m->spares.spare.pid;
      *pidfd = m->spares.spare.pidfd;
      close(m->spares.spare.sock);
      DestroyChannel(&m->spares.spare.channel);  // made for a fork that wanted one; this did not
      m->spares.spare = Spares::Spare{};
      done->via_spare = 1;
      done->fallback = ctl::kForkViaSpare;
      done->copied_pages = pages.size();
      m->control.SendSpare(0);
    } else {
      done->fallback = ctl::kForkSpareFailed;
    }
  }
  // A spare the dirty log was taken for is stale now: a new one comes later.
  if (!done->via_spare) KillSpare(m);
}

}  // namespace pvm::monitor
