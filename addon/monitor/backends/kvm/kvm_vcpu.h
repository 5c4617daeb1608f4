// One KVM vCPU: its fd, the shared kvm_run area and the register ioctls the monitor uses.
// General registers go through KVM_CAP_SYNC_REGS when the host has it (KVM copies them
// into kvm_run at every exit and takes them back on the next KVM_RUN: no extra ioctls on
// the hypercall path), else through KVM_GET_REGS/KVM_SET_REGS.
#pragma once

#include "monitor/backends/kvm/kvm_uapi.h"
#include <signal.h>

#include <cstdint>

#include "monitor/failure.h"
#include "monitor/backends/kvm/kvm.h"

namespace pvm::monitor {

class KvmVcpu {
 public:
  KvmVcpu() = default;
  ~KvmVcpu();
  KvmVcpu(const KvmVcpu&) = delete;
  KvmVcpu& operator=(const KvmVcpu&) = delete;

  // vCPU 0 of vm, with its kvm_run area mapped.
  bool Create(const Kvm& kvm, const KvmVm& vm, Failure* why);
  bool SetCpuid(CpuidTable* cpuid, Failure* why);
  // The signal mask in force while the vCPU runs in the guest (KVM_SET_SIGNAL_MASK).
  bool SetSignalMask(const sigset_t& mask, Failure* why);

  kvm_run* run() const { return run_; }
  bool sync_regs() const { return sync_regs_; }

  // KVM_RUN: 0 when the vCPU exited (see run()->exit_reason), else -errno.
  int Run();

  // The general registers as of the last exit. Call LoadRegs once per exit before
  // regs(); after changing them, StoreRegs hands them to the next KVM_RUN.
  bool LoadRegs(Failure* why);
  kvm_regs& regs() { return *regs_; }
  bool StoreRegs(Failure* why);
  // Sets the registers outright (entry state, restore).
  bool SetRegs(const kvm_regs& regs, Failure* why);

  bool GetSregs(kvm_sregs* sregs, Failure* why) const;
  bool SetSregs(const kvm_sregs& sregs, Failure* why);
  bool GetEvents(kvm_vcpu_events* events, Failure* why) const;
  bool SetFpu(const kvm_fpu& fpu, Failure* why);
  // One MSR. GetMsr fails quietly (returns false, no Failure) when KVM does not know it.
  bool GetMsr(uint32_t index, uint64_t* value) const;
  bool SetMsr(uint32_t index, uint64_t value, Failure* why);

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  bool sync_regs_ = false;
  kvm_regs* regs_ = &own_regs_;  // kvm_run->s.regs.regs with sync regs
  kvm_regs own_regs_{};
};

}  // namespace pvm::monitor
