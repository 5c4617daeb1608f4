#include "monitor/hypercalls.h"

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

}  // namespace

HypercallResult HandleHypercall(const VcpuExit& x, const PvmIdentity& identity, const GuestMemory& ram) {
  switch (x.nr) {
    case PVM_HC_EXIT: return Exit(x);
    case PVM_HC_CONSOLE_FLUSH: return Return(0);  // every exit drains the console
    case PVM_HC_GETID: return Return(identity.id);
    case PVM_HC_TIME: return Return(MonotonicNs());
    default: return End(BadHypercallFault(x.nr, x.rip));
  }
}

}  // namespace pvm::monitor
