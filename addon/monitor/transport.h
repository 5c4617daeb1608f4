// The monitor's side of the hypercall transport (abi.json "hypercall"): a backend
// reports a 4-byte port write to the doorbell or the floor port as a Hypercall exit
// with the written value; this reads the call from the guest's argument block and
// writes the result back there. Registers carry nothing, so every backend (a KVM exit,
// a Xen ioreq, ...) shares this code and needs only the port and the value.
#pragma once

#include <cstdint>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor {

enum class Doorbell {
  Call,      // a hypercall: exit->nr and exit->args are filled in from the block
  Floor,     // a write to the floor port: resume the vCPU, nothing else
  BadBlock,  // the value does not name this vCPU's block: end the pVM (BadBlockFault)
};

// exit->kind must be Hypercall (exit->port, exit->value as the backend saw them).
Doorbell ReadHypercall(const GuestMemory& ram, VcpuExit* exit);

// Puts a hypercall's result into the block, then lets the backend resume the vCPU.
bool FinishHypercall(Backend* backend, uint64_t result, Failure* why);

// Only the block's result (a forked child: its FORK returns 0 when it first runs).
void WriteHypercallResult(const GuestMemory& ram, uint64_t result);

// The fault that ends a pVM whose doorbell value named no argument block.
ctl::Exit BadBlockFault(const VcpuExit& exit);

}  // namespace pvm::monitor
