#include "monitor/hypercalls.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "monitor/clock.h"
#include "monitor/fault.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

HypercallResult Return(uint64_t value) {
  HypercallResult r;
  r.value = value;
  return r;
}

HypercallResult Error(int guest_errno) { return Return(static_cast<uint64_t>(-static_cast<int64_t>(guest_errno))); }

HypercallResult End(const ctl::Exit& exit) {
  HypercallResult r;
  r.ends = true;
  r.exit = exit;
  return r;
}

HypercallResult Exit(const VcpuExit& x) {
  ctl::Exit e{};
  e.kind = ctl::ExitKind::Code;
  e.code = static_cast<int32_t>(x.args[0] & 0xff);  // 0..255, like a process's exit status
  e.fault = ctl::FaultKind::None;
  e.vector = 0xffffffff;
  e.rip = x.rip;
  return End(e);
}

// WAIT(slots, count, timeout_ns): poll the listed doorbells and the control socket.
HypercallResult Wait(const VcpuExit& x, const HypercallContext& c) {
  uint64_t count = x.args[1];
  if (count > PVM_CHANNEL_SLOTS) return Error(PVM_EINVAL);
  const uint8_t* raw = c.ram->GuestBuffer(x.args[0], count * sizeof(uint32_t));
  if (!raw) return Error(PVM_EFAULT);
  uint32_t slots[PVM_CHANNEL_SLOTS];
  std::memcpy(slots, raw, count * sizeof(uint32_t));  // a copy: the guest cannot change it under us
  pollfd fds[PVM_CHANNEL_SLOTS + 1];
  if (!c.channels->Doorbells(slots, static_cast<uint32_t>(count), fds)) return Error(PVM_EBADF);
  fds[count] = pollfd{c.control_fd, POLLIN, 0};

  uint64_t timeout_ns = x.args[2];
  timespec limit{static_cast<time_t>(timeout_ns / 1000000000ull), static_cast<long>(timeout_ns % 1000000000ull)};
  bool forever = timeout_ns == ~0ull;
  int n = ppoll(fds, count + 1, forever ? nullptr : &limit, c.wait_mask);
  if (n < 0) return Return(0);  // a kick signal: back to the loop, which looks at why
  if (fds[count].revents) *c.host_waiting = true;
  uint64_t rang = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (!(fds[i].revents & POLLIN)) continue;
    uint64_t value;
    (void)!read(fds[i].fd, &value, sizeof value);  // reset the doorbell
    rang++;
  }
  return Return(rang);
}

}  // namespace

HypercallResult HandleHypercall(const VcpuExit& x, const HypercallContext& c) {
  switch (x.nr) {
    case PVM_HC_EXIT: return Exit(x);
    case PVM_HC_CONSOLE_FLUSH: return Return(0);  // every exit drains the console
    case PVM_HC_GETID: return Return(c.identity->id);
    case PVM_HC_TIME: return Return(MonotonicNs());
    case PVM_HC_WAIT: return Wait(x, c);
    case PVM_HC_NOTIFY:
      return x.args[0] < PVM_CHANNEL_SLOTS && c.channels->Notify(static_cast<uint32_t>(x.args[0])) ? Return(0)
                                                                                                 : Error(PVM_EBADF);
    default: return End(BadHypercallFault(x.nr, x.rip));
  }
}

}  // namespace pvm::monitor
