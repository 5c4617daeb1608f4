// Saving and restoring the whole state of a KVM vCPU: what a fork or a snapshot needs
// to carry a running guest to a new VM over the same (copy-on-write) RAM.
#pragma once

#include "monitor/backends/kvm/kvm_uapi.h"

#include <vector>

#include "monitor/backend.h"
#include "monitor/backends/kvm/kvm.h"
#include "monitor/backends/kvm/kvm_vcpu.h"

namespace pvm::monitor {

struct KvmSavedState final : SavedState {
  void Serialize(std::vector<uint8_t>* out) const override;
  bool Deserialize(const uint8_t* bytes, size_t size);

  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<uint32_t> xsave;  // a kvm_xsave of the size KVM reports; empty: use fpu
  kvm_fpu fpu{};
  bool have_xcrs = false;
  kvm_xcrs xcrs{};
  kvm_vcpu_events events{};
  bool have_debugregs = false;
  kvm_debugregs debugregs{};
  std::vector<kvm_msr_entry> msrs;  // every MSR that read back
};

// Reads the state of vcpu at an exit. kvm_pvm: also its virtual-IF MSR.
bool SaveKvmState(const Kvm& kvm, const KvmVcpu& vcpu, bool kvm_pvm, KvmSavedState* out, Failure* why);
// Puts it into vcpu (a fresh one, on a VM that maps the same RAM, with CPUID set).
bool RestoreKvmState(KvmVcpu* vcpu, const KvmSavedState& state, Failure* why);
// Puts it back into the vcpu it was saved from (reset): registers, FPU/XSAVE and pending
// events always; sregs and MSRs only where they differ now (writing sregs resets KVM's
// MMU context). XCR0 and the debug registers, which a pVM's runtime never changes, are
// left as they are.
bool RewindKvmState(KvmVcpu* vcpu, const KvmSavedState& state, Failure* why);

}  // namespace pvm::monitor
