// What the process backend's Run reports: a call of the transport's entry or a decoded
// fault signal as the backend-neutral VcpuExit kvm gives for the same thing. Pure (the
// fuzz harness fuzz/fuzz_process.cc drives it with DecodeFault).
#pragma once

#include <cstdint>

#include "monitor/backend.h"
#include "monitor/backends/process/fault_decode.h"

namespace pvm::monitor::process {

// The runtime called hypercall_entry(value, port) and returns to rip: a Hypercall exit
// for the doorbell or the floor port with a 32-bit value (what a port write carries),
// else bad port I/O.
void ExitFromCall(uint64_t value, uint64_t port, uint64_t rip, VcpuExit* exit);

// A fault the guest took. *step: the bytes CompleteHypercall steps over when the fault
// was a port-write hypercall (an image without hypercall_entry), else 0.
void ExitFromFault(const GuestFault& f, VcpuExit* exit, uint8_t* step);

}  // namespace pvm::monitor::process
