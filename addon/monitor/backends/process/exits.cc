#include "monitor/backends/process/exits.h"

#include "pvm/abi.h"

namespace pvm::monitor::process {

namespace {

bool IsDoorbell(uint64_t port) { return port == PVM_HC_PORT || port == PVM_HC_FLOOR_PORT; }

}  // namespace

void ExitFromCall(uint64_t value, uint64_t port, uint64_t rip, VcpuExit* exit) {
  exit->rip = rip;
  exit->port = static_cast<uint16_t>(port);
  exit->size = 4;
  exit->is_write = true;
  exit->value = static_cast<uint32_t>(value);
  bool doorbell = IsDoorbell(port) && value <= UINT32_MAX;
  exit->kind = doorbell ? VcpuExit::Kind::Hypercall : VcpuExit::Kind::Io;
}

void ExitFromFault(const GuestFault& f, VcpuExit* exit, uint8_t* step) {
  *step = 0;
  exit->rip = f.rip;
  switch (f.insn) {
    case GuestFault::Insn::Out:
    case GuestFault::Insn::In:
      // What a VM exits on: a 4-byte write to the doorbell is a hypercall (slow here: a
      // signal each), any other port I/O is bad I/O.
      exit->port = f.port;
      exit->size = f.size;
      exit->is_write = f.insn == GuestFault::Insn::Out;
      if (exit->is_write && f.size == 4 && IsDoorbell(f.port)) {
        exit->kind = VcpuExit::Kind::Hypercall;
        exit->value = f.value;
        *step = f.length;
      } else {
        exit->kind = VcpuExit::Kind::Io;
      }
      return;
    case GuestFault::Insn::Hlt:
      exit->kind = VcpuExit::Kind::Halt;
      return;
    case GuestFault::Insn::None:
      break;
  }
  exit->kind = VcpuExit::Kind::Exception;
  exit->vector_known = true;
  exit->vector = f.vector;
  exit->has_error_code = f.has_error_code;
  exit->error_code = f.error_code;
  exit->cr2 = f.addr;
  exit->raw_syscall = f.raw_syscall;
  exit->outside_guest = f.outside_guest;
}

}  // namespace pvm::monitor::process
