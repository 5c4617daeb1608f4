#include "monitor/hypercalls.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "monitor/blocking.h"
#include "monitor/clock.h"
#include "monitor/fault.h"
#include "monitor/fork.h"
#include "monitor/spares.h"
#include "monitor/reset.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {


HypercallResult Exit(const VcpuExit& x) {
  ctl::Exit e{};
  e.kind = ctl::ExitKind::Code;
  e.code = static_cast<int32_t>(x.args[0] & 0xff);  // 0..255, like a process's exit status
  e.fault = ctl::FaultKind::None;
  e.vector = ctl::kNoVector;
  e.rip = x.rip;
  return End(e);
}

// WAIT(slots, count, timeout_ns): poll the listed doorbells (and the peers' pidfds, to
// notice a crashed peer) and the control socket.
HypercallResult Wait(const VcpuExit& x, Monitor* m, const sigset_t* wait_mask) {
  uint64_t count = x.args[1];
  if (count > PVM_CHANNEL_SLOTS) return Error(PVM_EINVAL);
  const uint8_t* raw = m->backend->memory().GuestBuffer(x.args[0], count * sizeof(uint32_t));
  if (!raw) return Error(PVM_EFAULT);
  uint32_t slots[PVM_CHANNEL_SLOTS];
  std::memcpy(slots, raw, count * sizeof(uint32_t));  // a copy: the guest cannot change it under us
  CollectSignals(m);
  if (PendingSignals(*m)) return Error(PVM_EINTR);
  if (m->host.wake_next_wait) {
    m->host.wake_next_wait = false;
    return Return(0);  // the host served something since the guest last looked
  }

  pollfd fds[2 * PVM_CHANNEL_SLOTS + 1];
  uint32_t peer_of[PVM_CHANNEL_SLOTS];  // fds[count + i] watches the peer of slots[peer_of[i]]
  if (!m->channels->Doorbells(slots, static_cast<uint32_t>(count), fds)) return Error(PVM_EBADF);
  uint32_t n = static_cast<uint32_t>(count);
  for (uint32_t i = 0; i < count; i++) {
    int pidfd = m->channels->Get(slots[i])->peer_pidfd;
    if (pidfd < 0) continue;
    peer_of[n - count] = i;
    fds[n++] = pollfd{pidfd, POLLIN, 0};
  }
  uint32_t control = n;
  fds[n++] = pollfd{m->control.fd(), POLLIN, 0};

  uint64_t timeout_ns = x.args[2];
  // A warm spare is due: sleep no longer than until then, and come back for it (the
  // guest sees a wake-up with nothing rung, which it must expect anyway).
  bool for_spare = false;
  if (m->spares.want) {
    uint64_t now = MonotonicNs();
    uint64_t until = m->spares.want_at_ns > now ? m->spares.want_at_ns - now : 0;
    if (until < timeout_ns) {
      timeout_ns = until;
      for_spare = true;
    }
  }
  timespec limit{static_cast<time_t>(timeout_ns / 1000000000ull), static_cast<long>(timeout_ns % 1000000000ull)};
  SetActivity(m, count ? kActivityWait : kActivityAccept, 0, slots, static_cast<uint32_t>(count));
  RaceDelay();  // the window between the guest's last look and this sleep
  m->backend->SettleKicks();
  int ready = ppoll(fds, n, timeout_ns == ~0ull ? nullptr : &limit, wait_mask);
  SetActivity(m, kActivityRunning);
  if (ready == 0 && for_spare) return Return(0);
  if (ready < 0) {
    CollectSignals(m);
    return PendingSignals(*m) ? Error(PVM_EINTR) : Return(0);  // else a kick: the loop looks at why
  }
  if (fds[control].revents) {
    m->host.waiting = true;
    m->host.wait_returned = true;  // served before the guest runs: it sees the result
  }
  uint64_t rang = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (!(fds[i].revents & POLLIN)) continue;
    uint64_t value;
    (void)!read(fds[i].fd, &value, sizeof value);  // reset the doorbell
    rang++;
  }
  for (uint32_t j = static_cast<uint32_t>(count); j < control; j++) {
    if (!fds[j].revents) continue;
    m->channels->PeerGone(slots[peer_of[j - count]]);  // it crashed: its ends are closed now
    rang++;
  }
  return Return(rang);
}

HypercallResult ShmCreate(const VcpuExit& x, Monitor* m) {
  uint64_t size = x.args[0];
  if (size == 0 || size > PVM_CHANNEL_SLOT_SIZE) return Error(PVM_EINVAL);
  int slot = m->channels->FreeSlot();
  if (slot < 0) return Error(PVM_EAGAIN);
  Failure why;
  if (!m->channels->AttachShm(static_cast<uint32_t>(slot), size, &why)) return Error(PVM_ENOMEM);
  RenewSpare(m);
  return Return(static_cast<uint64_t>(slot));
}

// STDIN_READ(buf, len): what the host wrote to standard input, never blocking (the
// guest WAITs on -EAGAIN; a Stdin message wakes that WAIT like any host request).
HypercallResult StdinRead(const VcpuExit& x, Monitor* m) {
  StdinState& in = m->input;
  size_t waiting = in.bytes.size() - in.taken;
  if (waiting == 0 && !in.ended) return Error(PVM_EAGAIN);
  uint64_t len = x.args[1];
  if (len == 0) return Return(waiting);
  size_t n = len < waiting ? static_cast<size_t>(len) : waiting;
  if (n == 0) return Return(0);  // the end of input
  uint8_t* buf = m->backend->memory().GuestBuffer(x.args[0], n);
  if (!buf) return Error(PVM_EFAULT);
  std::memcpy(buf, in.bytes.data() + in.taken, n);
  in.taken += n;
  if (in.taken == in.bytes.size() || in.taken >= (1u << 20)) {  // drop what was read
    in.bytes.erase(0, in.taken);
    in.taken = 0;
  }
  return Return(n);
}

}  // namespace

HypercallResult HandleHypercall(const VcpuExit& x, Monitor* m, const sigset_t* wait_mask) {
  switch (x.nr) {
    case PVM_HC_EXIT: return Exit(x);
    case PVM_HC_EXEC: return ExecHypercall(x, m);
    case PVM_HC_FORK: return ForkHypercall(x, m);
    case PVM_HC_RESET: return ResetHypercall(x, m);
    case PVM_HC_CONSOLE_FLUSH: return Return(0);  // every exit drains the console
    case PVM_HC_GETID: return Return(m->identity.id);
    case PVM_HC_TIME: return Return(MonotonicNs());
    case PVM_HC_WAIT: return Wait(x, m, wait_mask);
    case PVM_HC_NOTIFY:
      return x.args[0] < PVM_CHANNEL_SLOTS && m->channels->Notify(static_cast<uint32_t>(x.args[0])) ? Return(0)
                                                                                                  : Error(PVM_EBADF);
    case PVM_HC_KILL: return Kill(x, m);
    case PVM_HC_WAITPID: return WaitPid(x, m, wait_mask);
    case PVM_HC_SIGNALS: return TakeSignals(m);
    case PVM_HC_SHM_CREATE: return ShmCreate(x, m);
    case PVM_HC_STDIN_READ: return StdinRead(x, m);
    case PVM_HC_CLOSE: {
      if (x.args[0] >= PVM_CHANNEL_SLOTS) return Error(PVM_EBADF);
      uint32_t slot = static_cast<uint32_t>(x.args[0]);
      const ChannelEnd* end = m->channels->Get(slot);
      bool shm = end && end->shm;
      if (!m->channels->Close(slot)) return Error(PVM_EBADF);
      if (shm) RenewSpare(m);
      return Return(0);
    }
    default: return End(BadHypercallFault(x.nr, x.rip));
  }
}

}  // namespace pvm::monitor
