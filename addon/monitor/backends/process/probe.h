// Can this process run pVMs with the process backend? Compiled into the addon
// (Host.open asks before any monitor starts).
#pragma once

#include "common/backend_probe.h"

namespace pvm::process {

// Needs x86-64 Linux, seccomp filters and room for the guest's addresses
// (vm.mmap_min_addr, the address-space limit). info: { guestLimit }.
BackendProbe Probe();

}  // namespace pvm::process
