// The `kvm` backend: a KVM VM with one vCPU over GuestMemory. Works on hardware KVM and
// on the kvm_pvm software flavour (detected; see docs/architecture.md "KVM flavours").
#pragma once

#include <signal.h>

#include <map>
#include <memory>

#include "common/control.h"
#include "monitor/backend.h"
#include "monitor/guest_memory.h"
#include "monitor/backends/kvm/kvm.h"
#include "monitor/backends/kvm/kvm_pvm_msr.h"
#include "monitor/backends/kvm/kvm_vcpu.h"

namespace pvm::monitor {

// Backend::flags() bits on kvm (the host reads them from Ready).
constexpr uint32_t kKvmFlagSoftware = ctl::kReadyKvmPvm;  // the kvm_pvm software flavour (control.json)

class KvmBackend final : public Backend, private DirtyLog {
 public:
  bool Prepare(Failure* why) override;
  bool Create(uint64_t ram_size, Failure* why) override;
  const GuestMemory& memory() const override { return memory_; }
  bool AllocateMemory(uint64_t size, GuestMemory* out, Failure* why) override { return out->Allocate(size, why); }
  bool ShareFilePages(const GuestMemory& ram, uint64_t gpa, int fd, uint64_t offset, uint64_t length) override {
    return ram.MapFile(gpa, fd, offset, length);
  }
  bool WarmUp(Failure* why) override;
  bool SetEntryState(const EntryState& entry, Failure* why) override;
  bool SetEntryRegs(const EntryState& entry, Failure* why) override;
  bool Run(VcpuExit* exit, Failure* why) override;
  bool SetKickSignals(const sigset_t& kick, Failure* why) override;
  bool CompleteHypercall(Failure* why) override;
  std::unique_ptr<SavedState> SaveState(Failure* why) override;
  bool RestoreState(const SavedState& state, Failure* why) override;
  bool RewindState(const SavedState& state, Failure* why) override;
  std::unique_ptr<SavedState> LoadState(const uint8_t* bytes, size_t size, Failure* why) override;
  // Fork is fork(2) of the monitor: nothing to do before it or in the parent; the child
  // builds a VM of its own over the copy-on-write RAM.
  bool BeforeFork(Failure*) override { return true; }
  bool AfterForkInChild(Failure* why) override { return RebuildAfterFork(why); }
  void AfterForkInParent() override {}
  DirtyLog* dirty_log() override { return this; }
  const char* name() const override { return "kvm"; }
  bool runs_linux_programs() const override { return true; }
  uint32_t flags() const override { return kvm_pvm_ ? kKvmFlagSoftware : 0; }
  // True on the kvm_pvm software flavour.
  bool software_flavour() const { return kvm_pvm_; }
  // kvm_pvm raises #SS when it delivers through an IST (measured): no fault stack there.
  bool exception_stack_works() const override { return !kvm_pvm_; }
  uint64_t exit_count() const override { return exits_; }
  // KVM_GET_TSC_KHZ of the vCPU (its guest TSC rate; rdtsc does not exit).
  uint64_t tsc_khz() const override { return tsc_khz_; }

  bool MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) override;
  void UnmapRegion(uint32_t index) override;
  bool FinishExit(Failure* why) override;
  // In a forked child: drop the VM inherited from the parent (it belongs to the parent's
  // address space) and build a new one over the same RAM and the regions still mapped.
  bool RebuildAfterFork(Failure* why);
  bool ReplaceMemory(GuestMemory&& fresh, Failure* why) override;

 private:
  // DirtyLog: KVM's dirty log of memslot 0.
  bool SetLogging(bool on, Failure* why) override;
  bool Take(std::vector<uint64_t>* pages, Failure* why) override;
  bool BuildVm(Failure* why);
  void ReadTscKhz();
  bool DecodeShutdown(VcpuExit* exit, Failure* why);

  Kvm kvm_;
  GuestMemory memory_;
  // Destroyed before memory_ (members go in reverse order).
  std::unique_ptr<KvmVm> vm_;
  std::unique_ptr<KvmVcpu> vcpu_;
  CpuidTable cpuid_;
  std::map<uint32_t, KvmRegion> regions_;  // by memslot
  bool have_run_mask_ = false;
  sigset_t run_mask_{};
  bool kvm_pvm_ = false;
  uint64_t tsc_khz_ = 0;
  bool prepared_ = false;
  bool log_dirty_ = false;
  uint64_t exits_ = 0;
};

}  // namespace pvm::monitor
