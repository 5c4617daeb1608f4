// Can this process run pVMs on KVM? Compiled into the addon (Host.open asks before any
// monitor starts); the monitor itself opens KVM in its own backend code.
#pragma once

#include "common/backend_probe.h"

namespace pvm::kvm {

// Opens the KVM device (/dev/kvm; the env PVM_KVM_DEVICE names another path, for tests
// of a host without KVM), checks the API version, and builds one VM with one vCPU to tell
// the kvm_pvm software flavour from hardware the way the backend does (kvm_pvm's
// virtual-IF MSR reads). ~1 ms. info: { flavour: 'kvm_pvm' | 'hardware', apiVersion }.
BackendProbe Probe();

}  // namespace pvm::kvm
