#include "monitor/reset.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <algorithm>

#include "monitor/clock.h"
#include "monitor/clone_identity.h"
#include "monitor/fault.h"
#include "monitor/fork_child.h"
#include "monitor/spares.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// The keeper's whole life: hold the address space it was forked with until its monitor
// goes (PR_SET_PDEATHSIG) or kills it. No fds, every signal but SIGKILL blocked.
[[noreturn]] void RunKeeper(pid_t monitor_pid) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != monitor_pid) _exit(0);
  prctl(PR_SET_NAME, "pvm-keeper");  // not a monitor: `ps`, and what counts monitors, tell them apart
  syscall(SYS_close_range, 0u, ~0u, 0u);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (;;) ppoll(nullptr, 0, nullptr, &all);
}

void SetBit(std::vector<uint64_t>* bitmap, uint64_t page) {
  if (page / 64 < bitmap->size()) (*bitmap)[page / 64] |= 1ull << (page % 64);
}

void SetRange(std::vector<uint64_t>* bitmap, uint64_t gpa, uint64_t len) {
  for (uint64_t page = gpa / PVM_PAGE_SIZE; page <= (gpa + len - 1) / PVM_PAGE_SIZE; page++) SetBit(bitmap, page);
}

// Children the guest forked since the fork point did not exist then: killed, as by the
// guest's KILL(SIGKILL) (they end `killed` by SIGKILL, and their own children with them).
// Children the host forked are the host's.
void KillChildren(Monitor* m) {
  for (const auto& c : m->family.children) {
    const RegistryEntry* e = m->registry.Find(c.id);
    pid_t pid = e ? __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE) : 0;
    sigval value{};
    value.sival_int = PVM_SIGKILL;
    if (pid <= 0 || sigqueue(pid, SIGRTMIN + ctl::kPvmSignalAfterRtMin, value) != 0) {
      syscall(SYS_pidfd_send_signal, c.pidfd, SIGKILL, nullptr, 0);  // not reachable so: at once
    }
    close(c.pidfd);
  }
  m->family.children.clear();
}

// Its channel to the forker stays, emptied of what it had not received: a reset pVM
// starts from its fork point, where nothing had been sent to it yet. What it sent stays
// for the forker to read. Only the receiving end's head moves (it is this end's to write).
void EmptyForkChannel(Monitor* m, uint32_t slot) {
  if (slot >= PVM_CHANNEL_SLOTS) return;
  const ChannelEnd* end = m->channels->Get(slot);
  if (!end || !end->open || end->shm || !end->mem) return;
  uint32_t rx = end->side == PVM_CHANNEL_SIDE_A ? 1 : 0;  // A sends on ring 0, B on ring 1
  auto* in = reinterpret_cast<uint32_t*>(end->mem + rx * PVM_CHANNEL_CONTROL_STRIDE);
  uint32_t tail = __atomic_load_n(in + PVM_CHANNEL_TAIL / 4, __ATOMIC_ACQUIRE);
  uint32_t head = __atomic_load_n(in + PVM_CHANNEL_HEAD / 4, __ATOMIC_RELAXED);
  if (head == tail) return;  // nothing unread: the forker has nothing to hear
  __atomic_store_n(in + PVM_CHANNEL_HEAD / 4, tail, __ATOMIC_RELEASE);
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  // A forker waiting for room in the ring has it now.
  if (__atomic_load_n(in + PVM_CHANNEL_PRODUCER_WAITING / 4, __ATOMIC_ACQUIRE)) m->channels->Notify(slot);
}

// Copies the pages in `bitmap` back: from the mirror if a reset brought them back
// before, else from the keeper into the mirror first (one process_vm_readv per 1024 runs
// of neighbouring pages; reading another process's pages costs ~2 us each here, a
// local copy a tenth of that). False if the keeper could not be read.
bool CopyBack(ResetPoint& r, const GuestMemory& ram, const std::vector<uint64_t>& bitmap, uint64_t* pages) {
  constexpr size_t kMaxIov = 1024;  // IOV_MAX
  iovec local[kMaxIov];
  iovec remote[kMaxIov];
  size_t n = 0;
  size_t bytes = 0;
  uint8_t* base = ram.base();
  auto flush = [&]() {
    if (n == 0) return true;
    ssize_t got = process_vm_readv(r.keeper, local, n, remote, n, 0);
    bool ok = got == static_cast<ssize_t>(bytes);
    for (size_t i = 0; ok && i < n; i++) {
      uint64_t offset = static_cast<uint64_t>(static_cast<uint8_t*>(local[i].iov_base) - r.mirror);
      std::memcpy(base + offset, local[i].iov_base, local[i].iov_len);
      for (uint64_t p = offset / PVM_PAGE_SIZE; p < (offset + local[i].iov_len) / PVM_PAGE_SIZE; p++) SetBit(&r.cached, p);
    }
    n = 0;
    bytes = 0;
    return ok;
  };
  uint64_t npages = std::min(ram.size(), r.mirror_size) / PVM_PAGE_SIZE;
  for (uint64_t w = 0; w < bitmap.size(); w++) {
    for (uint64_t bits = bitmap[w]; bits != 0; bits &= bits - 1) {
      uint64_t page = w * 64 + __builtin_ctzll(bits);
      if (page >= npages) break;
      (*pages)++;
      uint64_t offset = page * PVM_PAGE_SIZE;
      if (r.cached[w] & (1ull << (page % 64))) {
        std::memcpy(base + offset, r.mirror + offset, PVM_PAGE_SIZE);
        continue;
      }
      uint8_t* at = r.mirror + offset;
      if (n > 0 && static_cast<uint8_t*>(local[n - 1].iov_base) + local[n - 1].iov_len == at) {
        local[n - 1].iov_len += PVM_PAGE_SIZE;
        remote[n - 1].iov_len += PVM_PAGE_SIZE;
      } else {
        if (n == kMaxIov && !flush()) return false;
        local[n] = iovec{at, PVM_PAGE_SIZE};
        remote[n] = iovec{base + offset, PVM_PAGE_SIZE};
        n++;
      }
      bytes += PVM_PAGE_SIZE;
    }
  }
  return flush();
}

ResetOutcome Fatal(ResetOutcome* out, const std::string& why) {
  out->fatal = true;
  out->why = why;
  return *out;
}

}  // namespace

void ForgetResetPoint(Monitor* m) {
  ResetPoint& r = m->reset;
  if (r.keeper_pidfd >= 0) close(r.keeper_pidfd);
  if (r.mirror) munmap(r.mirror, r.mirror_size);
  if (m->backend) m->backend->memory().TrackAccess(nullptr, 0);
  r = ResetPoint{};
}

void DropResetPoint(Monitor* m) {
  if (m->reset.keeper_pidfd >= 0) syscall(SYS_pidfd_send_signal, m->reset.keeper_pidfd, SIGKILL, nullptr, 0);
  ForgetResetPoint(m);
}

void ArmResetPoint(Monitor* m, const SavedState& state, uint32_t fork_slot) {
  ForgetResetPoint(m);
  DirtyLog* log = m->backend->dirty_log();
  if (!log) return;  // ENOSYS: this backend cannot tell which pages were written
  ResetPoint& r = m->reset;
  Failure why;
  std::vector<uint64_t> ignored;
  // From here on the log counts what differs from the keeper's copy.
  if (!log->SetLogging(true, &why) || !log->Take(&ignored, &why)) return;
  std::vector<uint8_t> bytes;
  state.Serialize(&bytes);
  r.saved = m->backend->LoadState(bytes.data(), bytes.size(), &why);  // a copy of its own
  if (!r.saved) return;
  uint64_t words = (m->backend->memory().size() / PVM_PAGE_SIZE + 63) / 64;
  r.touched.assign(words, 0);
  r.logged.assign(words, 0);
  r.cached.assign(words, 0);
  r.mirror_size = m->backend->memory().size();
  void* mirror = mmap(nullptr, r.mirror_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mirror == MAP_FAILED) {
    ForgetResetPoint(m);
    return;
  }
  r.mirror = static_cast<uint8_t*>(mirror);
  for (uint32_t slot = 0; slot < PVM_CHANNEL_SLOTS; slot++) {
    const ChannelEnd* end = m->channels->Get(slot);
    if (end && end->open) r.slots.set(slot);
  }
  r.fork_slot = fork_slot;
  int pidfd = -1;
  pid_t monitor_pid = getpid();
  pid_t pid = ForkWithPidfd(&pidfd);
  if (pid == 0) RunKeeper(monitor_pid);
  if (pid < 0 || pidfd < 0) {
    ForgetResetPoint(m);
    return;
  }
  r.keeper = pid;
  r.keeper_pidfd = pidfd;
  r.armed = true;
  m->backend->memory().TrackAccess(r.touched.data(), r.touched.size() * 64);
}

bool TakeDirty(Monitor* m, std::vector<uint64_t>* pages, Failure* why) {
  size_t before = pages->size();
  if (!m->backend->dirty_log()->Take(pages, why)) return false;
  if (m->reset.armed) {
    for (size_t i = before; i < pages->size(); i++) SetBit(&m->reset.logged, (*pages)[i]);
  }
  return true;
}

ResetOutcome ResetPvm(Monitor* m) {
  ResetOutcome out;
  ResetPoint& r = m->reset;
  DirtyLog* log = m->backend->dirty_log();
  if (!log) {
    out.error = -PVM_ENOSYS;
    return out;
  }
  if (!r.armed) {
    out.error = -PVM_EINVAL;
    return out;
  }
  Failure why;
  m->console->Drain();  // what it printed before the reset is the host's
  // What it got since the fork point goes: children, its spare (of the old memory),
  // channels and regions it was given or made.
  KillChildren(m);
  KillSpare(m);
  for (uint32_t slot = 0; slot < PVM_CHANNEL_SLOTS; slot++) {
    const ChannelEnd* end = m->channels->Get(slot);
    if (end && end->open && !r.slots.test(slot)) m->channels->Close(slot);
  }
  // Every page that may differ from the keeper's: the guest's writes (the log), those
  // the log gave the spares, and the monitor's (tracked, plus what it writes through
  // pointers it keeps: the boot-info page and the channel table).
  std::vector<uint64_t> pages;
  bool own_writes = log->logs_monitor_writes();
  if (!(own_writes ? log->Peek(&pages, &why) : log->Take(&pages, &why))) return Fatal(&out, "reset: the dirty log failed");
  std::vector<uint64_t>& dirty = r.logged;
  for (uint64_t page : pages) SetBit(&dirty, page);
  for (size_t w = 0; w < dirty.size(); w++) dirty[w] |= r.touched[w];
  SetRange(&dirty, PVM_BOOT_INFO_GPA, PVM_PAGE_SIZE);
  SetRange(&dirty, PVM_CHANNEL_TABLE_GPA, PVM_CHANNEL_SLOTS * sizeof(pvm_channel_entry));
  const GuestMemory& ram = m->backend->memory();
  if (!CopyBack(r, ram, dirty, &out.pages)) return Fatal(&out, "reset: the fork point's memory is gone");
  // Where the log sees the copies just made (process), they are the fork point's again.
  // Nothing else was written since the Peek: every page it named was copied.
  if (own_writes && !log->Restart(dirty, &why)) return Fatal(&out, "reset: the dirty log failed");
  std::fill(dirty.begin(), dirty.end(), 0);
  std::fill(r.touched.begin(), r.touched.end(), 0);
  if (!m->backend->FinishExit(&why)) return Fatal(&out, why.message);
  if (!m->backend->RewindState(*r.saved, &why)) return Fatal(&out, why.message);
  // The monitor's view of the guest, as the restored RAM has it.
  m->console->Resync();
  m->family.pending_signals = 0;
  m->channels->Publish();  // a fork-point channel the guest closed since stays closed
  EmptyForkChannel(m, r.fork_slot);
  MakeCloneUnique(m, ram);
  if (m->spares.enabled) {
    m->spares.want = true;
    m->spares.want_at_ns = MonotonicNs() + kSpareDelayNs;
  }
  return out;
}

ResetOutcome ServeReset(Monitor* m, uint64_t tag) {
  ctl::ResetDone done{};
  done.tag = tag;
  done.start_ns = MonotonicNs();
  ResetOutcome o = ResetPvm(m);
  if (o.fatal) return o;
  done.error = o.error;
  done.pages = o.pages;
  done.done_ns = MonotonicNs();
  m->control.SendResetDone(done);
  return o;
}

HypercallResult ResetHypercall(const VcpuExit&, Monitor* m) {
  ctl::ResetDone done{};
  done.start_ns = MonotonicNs();
  ResetOutcome o = ResetPvm(m);
  if (o.fatal) return End(InternalFault(o.why.c_str(), 0));
  if (o.error != 0) return Return(static_cast<uint64_t>(o.error));
  done.pages = o.pages;
  done.done_ns = MonotonicNs();
  m->control.SendResetDone(done);
  return NoCompletion(HypercallResult::Then::None);  // the vCPU is at its fork point
}

}  // namespace pvm::monitor
