#include "monitor/transport.h"

#include <cstdio>
#include <cstring>

#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// The block of the one vCPU; RAM is never smaller than PVM_MIN_RAM, so it is there.
uint8_t* Block(const GuestMemory& ram) { return ram.At(PVM_HC_BLOCK_GPA, PVM_HC_BLOCK_STRUCT_SIZE); }

}  // namespace

Doorbell ReadHypercall(const GuestMemory& ram, VcpuExit* exit) {
  if (exit->port == PVM_HC_FLOOR_PORT) return Doorbell::Floor;
  const uint8_t* block = Block(ram);
  if (exit->value != PVM_HC_BLOCK_GPA || block == nullptr) return Doorbell::BadBlock;
  // One copy, then decode: the guest cannot change what was checked under our feet
  // (it does not run now, but a later multi-vCPU guest could).
  pvm_hc_block b;
  std::memcpy(&b, block, sizeof b);
  exit->nr = b.nr;
  static_assert(sizeof exit->args == sizeof b.args, "VcpuExit::args holds the block's arguments");
  std::memcpy(exit->args, b.args, sizeof b.args);
  return Doorbell::Call;
}

void WriteHypercallResult(const GuestMemory& ram, uint64_t result) {
  if (uint8_t* block = Block(ram)) std::memcpy(block + PVM_HC_BLOCK_RESULT_OFFSET, &result, sizeof result);
}

bool FinishHypercall(Backend* backend, uint64_t result, Failure* why) {
  WriteHypercallResult(backend->memory(), result);
  return backend->CompleteHypercall(why);
}

ctl::Exit BadBlockFault(const VcpuExit& exit) {
  ctl::Exit e{};
  e.kind = ctl::ExitKind::Fault;
  e.fault = ctl::FaultKind::BadHypercall;
  e.vector = ctl::kNoVector;
  e.rip = exit.rip;
  e.address = exit.value;
  snprintf(e.reason, sizeof e.reason,
           "bad hypercall block 0x%x at rip 0x%llx (the hypercall port takes the argument block's address, 0x%llx)",
           exit.value, static_cast<unsigned long long>(exit.rip), static_cast<unsigned long long>(PVM_HC_BLOCK_GPA));
  return e;
}

}  // namespace pvm::monitor
