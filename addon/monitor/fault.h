// Turning the ways a guest can end badly into the ctl::Exit the host gets: fault kind,
// vector, addresses and a readable reason such as
// "page fault (#PF) at rip 0x2001a3: read of unmapped address 0x0 (error code 0x4)".
#pragma once

#include <cstdint>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor {

// A fault exit (kind != Hypercall, != Interrupted) of a guest with ram_size bytes of RAM.
ctl::Exit DescribeFault(const VcpuExit& exit, uint64_t ram_size);
// A FaultReport exit made into the Exception it reports (vector, error code, rip of the
// faulting instruction, cr2), read from the stub's frame in guest RAM; a write to the
// fault port that is no stub's report stays what it is: bad port I/O. Other exits as
// they are.
VcpuExit ResolveFaultReport(const VcpuExit& exit, const GuestMemory& ram);
// A hypercall number the monitor does not know.
ctl::Exit BadHypercallFault(uint32_t nr, uint64_t rip);
// The monitor could not go on (a failed ioctl); the pVM ends with an Internal fault.
ctl::Exit InternalFault(const char* what, uint64_t rip);

// "#PF", "#UD", ... or nullptr for a vector with no mnemonic.
const char* ExceptionMnemonic(uint32_t vector);

}  // namespace pvm::monitor
