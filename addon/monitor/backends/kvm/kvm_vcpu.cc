#include "monitor/backends/kvm/kvm_vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pvm::monitor {

namespace {

// kvm_msrs ends in a flexible array; one entry is all the monitor needs at a time.
struct OneMsr {
  alignas(kvm_msrs) uint8_t bytes[sizeof(kvm_msrs) + sizeof(kvm_msr_entry)] = {};
  kvm_msrs* get() { return reinterpret_cast<kvm_msrs*>(bytes); }
};

}  // namespace

KvmVcpu::~KvmVcpu() {
  if (run_) munmap(run_, run_size_);
  if (fd_ >= 0) close(fd_);
}

bool KvmVcpu::Create(const Kvm& kvm, const KvmVm& vm, Failure* why) {
  if (!kvm.VcpuMmapSize(&run_size_, why)) return false;
  fd_ = ioctl(vm.fd(), KVM_CREATE_VCPU, 0);
  if (fd_ < 0) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "KVM_CREATE_VCPU");
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) return FailErrno(why, ctl::ErrorCode::Internal, "mmap of kvm_run");
  run_ = static_cast<kvm_run*>(p);
  if ((kvm.Capability(KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS) != 0) {
    sync_regs_ = true;
    run_->kvm_valid_regs = KVM_SYNC_X86_REGS;  // KVM fills run_->s.regs.regs at each exit
    regs_ = &run_->s.regs.regs;
  }
  return true;
}

bool KvmVcpu::SetCpuid(CpuidTable* cpuid, Failure* why) {
  if (ioctl(fd_, KVM_SET_CPUID2, cpuid->get()) != 0) {
    return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "KVM_SET_CPUID2");
  }
  return true;
}

bool KvmVcpu::SetSignalMask(const sigset_t& mask, Failure* why) {
  // The kernel's sigset is 8 bytes on x86-64, not glibc's 128-byte sigset_t.
  alignas(kvm_signal_mask) uint8_t buf[sizeof(kvm_signal_mask) + 8];
  auto* m = reinterpret_cast<kvm_signal_mask*>(buf);
  m->len = 8;
  std::memcpy(m->sigset, &mask, 8);
  if (ioctl(fd_, KVM_SET_SIGNAL_MASK, m) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_SIGNAL_MASK");
  }
  return true;
}

int KvmVcpu::Run() {
  return ioctl(fd_, KVM_RUN, 0) == 0 ? 0 : -errno;
}

bool KvmVcpu::LoadRegs(Failure* why) {
  if (sync_regs_) return true;
  if (ioctl(fd_, KVM_GET_REGS, &own_regs_) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_REGS");
  }
  return true;
}

bool KvmVcpu::StoreRegs(Failure* why) {
  if (sync_regs_) {
    run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS;  // KVM takes them on the next KVM_RUN
    return true;
  }
  if (ioctl(fd_, KVM_SET_REGS, &own_regs_) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_REGS");
  }
  return true;
}

bool KvmVcpu::SetRegs(const kvm_regs& regs, Failure* why) {
  if (ioctl(fd_, KVM_SET_REGS, &regs) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_REGS");
  // A pending sync-regs write-back would overwrite what was just set.
  if (sync_regs_) run_->kvm_dirty_regs &= ~static_cast<uint64_t>(KVM_SYNC_X86_REGS);
  own_regs_ = regs;
  return true;
}

bool KvmVcpu::SetFpu(const kvm_fpu& fpu, Failure* why) {
  if (ioctl(fd_, KVM_SET_FPU, &fpu) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_FPU");
  return true;
}

bool KvmVcpu::GetSregs(kvm_sregs* sregs, Failure* why) const {
  if (ioctl(fd_, KVM_GET_SREGS, sregs) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_SREGS");
  return true;
}

bool KvmVcpu::SetSregs(const kvm_sregs& sregs, Failure* why) {
  if (ioctl(fd_, KVM_SET_SREGS, &sregs) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_SREGS");
  return true;
}

bool KvmVcpu::GetEvents(kvm_vcpu_events* events, Failure* why) const {
  if (ioctl(fd_, KVM_GET_VCPU_EVENTS, events) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_VCPU_EVENTS");
  }
  return true;
}

bool KvmVcpu::GetMsr(uint32_t index, uint64_t* value) const {
  OneMsr m;
  m.get()->nmsrs = 1;
  m.get()->entries[0].index = index;
  // KVM_GET_MSRS returns how many MSRs it read: 0 when it does not know this one.
  if (ioctl(fd_, KVM_GET_MSRS, m.get()) != 1) return false;
  *value = m.get()->entries[0].data;
  return true;
}

bool KvmVcpu::SetMsr(uint32_t index, uint64_t value, Failure* why) {
  OneMsr m;
  m.get()->nmsrs = 1;
  m.get()->entries[0].index = index;
  m.get()->entries[0].data = value;
  int r = ioctl(fd_, KVM_SET_MSRS, m.get());
  if (r != 1) {
    return Fail(why, ctl::ErrorCode::Internal, r < 0 ? errno : 0, "KVM_SET_MSRS 0x%x = 0x%llx failed", index,
                static_cast<unsigned long long>(value));
  }
  return true;
}

}  // namespace pvm::monitor
