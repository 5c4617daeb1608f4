// Turning the ways a guest can end badly into the ctl::Exit the host gets: fault kind,
// vector, addresses and a readable reason such as
// "page fault (#PF) at rip 0x2001a3: read of unmapped address 0x0 (error code 0x4)".
#pragma once

#include <cstdint>

#include "common/control.h"
#include "monitor/backend.h"

namespace pvm::monitor {

// A fault exit (kind != Hypercall, != Interrupted) of a guest with ram_size bytes of RAM.
ctl::Exit DescribeFault(const VcpuExit& exit, uint64_t ram_size);
// A hypercall number the monitor does not know.
ctl::Exit BadHypercallFault(uint32_t nr, uint64_t rip);
// The monitor could not go on (a failed ioctl); the pVM ends with an Internal fault.
ctl::Exit InternalFault(const char* what, uint64_t rip);

// "#PF", "#UD", ... or nullptr for a vector with no mnemonic.
const char* ExceptionMnemonic(uint32_t vector);

}  // namespace pvm::monitor
