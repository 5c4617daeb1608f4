// kvm_pvm's "virtual IF" page MSR: readable only on a kvm_pvm host, so reading it is how
// both the backend and the addon's probe tell that flavour from hardware KVM.
#pragma once

#include <cstdint>

namespace pvm::monitor {

constexpr uint32_t kKvmPvmVifMsr = 0x4b564d10;

}  // namespace pvm::monitor
