#include "monitor/backends/kvm/kvm_backend.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include <sys/ioctl.h>

#include "monitor/backends/kvm/kvm_state.h"
#include "monitor/backends/kvm/warm_up.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

kvm_segment FlatSegment(uint16_t selector, uint8_t type, bool code) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.db = code ? 0 : 1;  // a 64-bit code segment has D=0 and L=1
  s.s = 1;
  s.l = code ? 1 : 0;
  s.g = 1;
  return s;
}

void Detail(VcpuExit* exit, const char* format, ...) __attribute__((format(printf, 2, 3)));
void Detail(VcpuExit* exit, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vsnprintf(exit->detail, sizeof exit->detail, format, ap);
  va_end(ap);
}

}  // namespace

bool KvmBackend::Prepare(Failure* why) {
  if (prepared_) return true;
  // The costly KVM set-up (VM, vCPU, CPUID: ~1 ms here) needs no RAM: done before the
  // host's Boot message arrives, or long before when the monitor waits in a pool.
  if (!kvm_.Open(why)) return false;
  if (!kvm_.SupportedCpuid(&cpuid_, why)) return false;
  vm_ = std::make_unique<KvmVm>();
  if (!vm_->Create(kvm_, why)) return false;
  vcpu_ = std::make_unique<KvmVcpu>();
  if (!vcpu_->Create(kvm_, *vm_, why)) return false;
  if (!vcpu_->SetCpuid(&cpuid_, why)) return false;
  // kvm_pvm is the only KVM here that knows this MSR.
  uint64_t vif;
  kvm_pvm_ = vcpu_->GetMsr(kKvmPvmVifMsr, &vif);
  ReadTscKhz();
  prepared_ = true;
  return true;
}

bool KvmBackend::Create(uint64_t ram_size, Failure* why) {
  if (!Prepare(why)) return false;
  if (!memory_.Allocate(ram_size, why)) return false;
  return vm_->MapMemory(memory_, why);
}

bool KvmBackend::BuildVm(Failure* why) {
  vm_ = std::make_unique<KvmVm>();
  if (!vm_->Create(kvm_, why)) return false;
  if (!vm_->MapMemory(memory_, why, log_dirty_)) return false;
  vcpu_ = std::make_unique<KvmVcpu>();
  if (!vcpu_->Create(kvm_, *vm_, why)) return false;
  if (!vcpu_->SetCpuid(&cpuid_, why)) return false;
  if (have_run_mask_ && !vcpu_->SetSignalMask(run_mask_, why)) return false;
  ReadTscKhz();
  return true;
}

void KvmBackend::ReadTscKhz() {
  int khz = ioctl(vcpu_->fd(), KVM_GET_TSC_KHZ, 0);
  tsc_khz_ = khz > 0 ? static_cast<uint64_t>(khz) : 0;  // unknown: the guest's clock reads exit
}

bool KvmBackend::RebuildAfterFork(Failure* why) {
  vcpu_.reset();
  vm_.reset();
  if (!BuildVm(why)) return false;
  for (const auto& [slot, region] : regions_) {
    if (!vm_->SetRegion(slot, region, why)) return false;
  }
  return true;
}

bool KvmBackend::MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) {
  if (index == 0) return Fail(why, ctl::ErrorCode::Internal, 0, "memslot 0 is RAM's");
  KvmRegion region{gpa, host, size};
  if (!vm_->SetRegion(index, region, why)) return false;
  regions_[index] = region;
  return true;
}

void KvmBackend::UnmapRegion(uint32_t index) {
  auto it = regions_.find(index);
  if (it == regions_.end()) return;
  KvmRegion gone{it->second.gpa, nullptr, 0};
  regions_.erase(it);
  // In a forked child before its rebuild vm_ is the parent's VM, which KVM refuses to
  // touch from another process (EIO): harmless, the region is simply not re-added.
  Failure ignored;
  if (vm_) vm_->SetRegion(index, gone, &ignored);
}


bool KvmBackend::SetKickSignals(const sigset_t& kick, Failure* why) {
  // KVM_SET_SIGNAL_MASK: while the guest runs, the monitor's mask minus the kick signals.
  sigset_t mask;
  if (!MaskLettingIn(kick, &mask)) return FailErrno(why, ctl::ErrorCode::Internal, "sigprocmask");
  run_mask_ = mask;
  have_run_mask_ = true;
  return vcpu_->SetSignalMask(run_mask_, why);
}

bool KvmBackend::SetEntryState(const EntryState& e, Failure* why) {
  kvm_sregs s;
  if (!vcpu_->GetSregs(&s, why)) return false;  // keeps what KVM set up (APIC base, ...)
  s.cs = FlatSegment(e.code_selector, 0xb, true);
  s.ds = s.es = s.fs = s.gs = s.ss = FlatSegment(e.data_selector, 0x3, false);
  s.tr = kvm_segment{};
  s.tr.base = e.tss_base;
  s.tr.limit = e.tss_limit;
  s.tr.selector = e.tss_selector;
  s.tr.type = 0xb;  // busy 64-bit TSS
  s.tr.present = 1;
  s.ldt = kvm_segment{};
  s.ldt.type = 0x2;
  s.ldt.unusable = 1;
  s.gdt.base = e.gdt_base;
  s.gdt.limit = e.gdt_limit;
  // The monitor's IDT (boot_setup.cc): set here, since kvm_pvm does not emulate lidt.
  s.idt.base = e.idt_base;
  s.idt.limit = e.idt_limit;
  s.cr0 = e.cr0;
  s.cr3 = e.cr3;
  s.cr4 = e.cr4;
  s.efer = e.efer;
  if (!vcpu_->SetSregs(s, why)) return false;

  // The FPU/SSE state as after reset (exec must not hand the old image's over).
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  if (!vcpu_->SetFpu(fpu, why)) return false;

  if (!SetEntryRegs(e, why)) return false;

  if (kvm_pvm_) {
    // Without the virtual-IF page kvm_pvm emulates every guest instruction (~1 µs each).
    uint8_t* page = memory_.At(PVM_KVM_PVM_VIF_GPA, PVM_PAGE_SIZE);
    std::memset(page, 0, PVM_PAGE_SIZE);
    if (!vcpu_->SetMsr(kKvmPvmVifMsr, PVM_KVM_PVM_VIF_GPA | 1, why)) return false;
  }
  return true;
}

bool KvmBackend::SetEntryRegs(const EntryState& e, Failure* why) {
  kvm_regs r{};
  r.rip = e.rip;
  r.rsp = e.rsp;
  r.rdi = e.rdi;
  r.rsi = e.rsi;
  r.rdx = e.rdx;
  r.rflags = e.rflags;
  return vcpu_->SetRegs(r, why);
}

bool KvmBackend::Run(VcpuExit* exit, Failure* why) {
  int rc = vcpu_->Run();
  exits_++;
  if (rc == -EINTR || rc == -EAGAIN) {
    exit->kind = VcpuExit::Kind::Interrupted;
    return true;
  }
  if (rc < 0) {
    exit->kind = VcpuExit::Kind::Internal;
    Detail(exit, "KVM_RUN failed: %s", strerror(-rc));
    return true;
  }
  kvm_run* run = vcpu_->run();
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      if (!vcpu_->LoadRegs(why)) return false;
      const kvm_regs& regs = vcpu_->regs();
      exit->rip = regs.rip;
      bool is_out = run->io.direction == KVM_EXIT_IO_OUT;
      bool doorbell = run->io.port == PVM_HC_PORT || run->io.port == PVM_HC_FLOOR_PORT;
      if (doorbell && is_out && run->io.size == 4 && run->io.count == 1) {
        // The written value sits in the kvm_run page; the transport does the rest.
        exit->kind = VcpuExit::Kind::Hypercall;
        exit->port = run->io.port;
        std::memcpy(&exit->value, reinterpret_cast<const uint8_t*>(run) + run->io.data_offset, sizeof exit->value);
        return true;
      }
      if (run->io.port == PVM_FAULT_PORT && is_out) {
        // An exception stub: the frame is in guest RAM; CR2 only the vCPU has.
        kvm_sregs sregs{};
        if (!vcpu_->GetSregs(&sregs, why)) return false;
        exit->kind = VcpuExit::Kind::FaultReport;
        exit->rsp = regs.rsp;
        exit->cr2 = sregs.cr2;
        return true;
      }
      exit->kind = VcpuExit::Kind::Io;
      exit->port = run->io.port;
      exit->size = run->io.size;
      exit->is_write = is_out;
      return true;
    }
    case KVM_EXIT_MMIO:
      if (!vcpu_->LoadRegs(why)) return false;
      exit->kind = VcpuExit::Kind::Mmio;
      exit->rip = vcpu_->regs().rip;
      exit->gpa = run->mmio.phys_addr;
      exit->size = run->mmio.len;
      exit->is_write = run->mmio.is_write;
      return true;
    case KVM_EXIT_SHUTDOWN:
      return DecodeShutdown(exit, why);
    case KVM_EXIT_HLT:
      if (!vcpu_->LoadRegs(why)) return false;
      exit->kind = VcpuExit::Kind::Halt;
      exit->rip = vcpu_->regs().rip;
      return true;
    case KVM_EXIT_INTR:
      exit->kind = VcpuExit::Kind::Interrupted;
      return true;
    case KVM_EXIT_INTERNAL_ERROR:
      exit->kind = VcpuExit::Kind::Internal;
      if (vcpu_->LoadRegs(why)) exit->rip = vcpu_->regs().rip;
      Detail(exit, "KVM internal error, suberror %u%s", run->internal.suberror,
             run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (instruction emulation failed)" : "");
      return true;
    case KVM_EXIT_FAIL_ENTRY:
      exit->kind = VcpuExit::Kind::Internal;
      Detail(exit, "KVM could not enter the guest, hardware reason 0x%llx",
             static_cast<unsigned long long>(run->fail_entry.hardware_entry_failure_reason));
      return true;
    default:
      exit->kind = VcpuExit::Kind::Internal;
      if (vcpu_->LoadRegs(why)) exit->rip = vcpu_->regs().rip;
      Detail(exit, "unexpected KVM exit reason %u", run->exit_reason);
      return true;
  }
}

bool KvmBackend::DecodeShutdown(VcpuExit* exit, Failure* why) {
  // With no IDT (the boot state) any guest exception escalates to a triple fault and
  // KVM reports SHUTDOWN. Which exception started it:
  // - kvm_pvm: every guest exception passes through it, and KVM_GET_VCPU_EVENTS keeps
  //   the vector in exception.nr (injected and pending are both 0 by then), with the
  //   error code; RIP is the faulting instruction, CR2 the #PF address.
  // - hardware KVM: the CPU delivers guest exceptions itself, so exception.nr is only
  //   meaningful while KVM holds one (injected or pending); else it is not known.
  kvm_vcpu_events events{};
  kvm_sregs sregs{};
  if (!vcpu_->GetEvents(&events, why) || !vcpu_->GetSregs(&sregs, why) || !vcpu_->LoadRegs(why)) return false;
  exit->rip = vcpu_->regs().rip;
  exit->vector_known = kvm_pvm_ || events.exception.injected || events.exception.pending;
  exit->vector = events.exception.nr;
  exit->has_error_code = events.exception.has_error_code;
  exit->error_code = events.exception.error_code;
  exit->cr2 = sregs.cr2;
  // With an IDT (the monitor's, always there now) a shutdown means delivering an
  // exception failed: on hardware KVM the guest damaged the IDT, the stubs, the fault
  // stack or the page tables (a triple fault proper, naming the exception where known).
  // kvm_pvm has no fault stack (see exception_stack_works), so a stack overflow ends
  // here too: it keeps the original exception and CR2, reported as that exception.
  bool idt = sregs.idt.limit != 0;
  bool as_exception = exit->vector_known && (kvm_pvm_ || !idt);
  exit->kind = as_exception ? VcpuExit::Kind::Exception : VcpuExit::Kind::TripleFault;
  return true;
}

bool KvmBackend::CompleteHypercall(Failure*) {
  // Nothing to write: the result is in guest memory. RIP is KVM's business: kvm_pvm has
  // already moved it past the OUT, hardware KVM moves it on the next KVM_RUN.
  return true;
}

bool KvmBackend::FinishExit(Failure* why) {
  // An exit may still be half done in KVM (on hardware KVM a port write is completed,
  // RIP moved past the OUT, only on the next KVM_RUN), and pending sync-regs changes
  // live only in kvm_run. KVM_RUN with immediate_exit finishes both without entering
  // the guest.
  kvm_run* run = vcpu_->run();
  run->immediate_exit = 1;
  int rc = vcpu_->Run();
  run->immediate_exit = 0;
  if (rc != -EINTR) {
    return Fail(why, ctl::ErrorCode::Internal, rc < 0 ? -rc : 0, "KVM_RUN with immediate_exit returned %d", rc);
  }
  return true;
}

bool KvmBackend::ReplaceMemory(GuestMemory&& fresh, Failure* why) {
  if (!vm_->UnmapMemory(why)) return false;
  memory_.Swap(fresh);
  if (!vm_->MapMemory(memory_, why, log_dirty_)) {
    // Put the old RAM back: the guest must not be left without memory.
    memory_.Swap(fresh);
    Failure ignored;
    vm_->MapMemory(memory_, &ignored, log_dirty_);
    return false;
  }
  return true;  // `fresh` now holds the old RAM, unmapped when the caller drops it
}

bool KvmBackend::SetLogging(bool on, Failure* why) {
  if (on == log_dirty_) return true;
  // Changing a memslot's flags: delete it and add it back (the RAM stays as it is).
  if (!vm_->UnmapMemory(why)) return false;
  log_dirty_ = on;
  return vm_->MapMemory(memory_, why, log_dirty_);
}

bool KvmBackend::Take(std::vector<uint64_t>* pages, Failure* why) {
  if (!log_dirty_) return Fail(why, ctl::ErrorCode::Internal, 0, "dirty logging is off");
  if (!vm_->TakeDirtyLog(memory_.size(), pages, why)) return false;
  // kvm_pvm's virtual-IF page: the kernel writes it, which the log does not see.
  pages->push_back(PVM_KVM_PVM_VIF_GPA / PVM_PAGE_SIZE);
  return true;
}

bool KvmBackend::WarmUp(Failure* why) { return WarmUpKvm(this, why); }

std::unique_ptr<SavedState> KvmBackend::LoadState(const uint8_t* bytes, size_t size, Failure* why) {
  auto state = std::make_unique<KvmSavedState>();
  if (!state->Deserialize(bytes, size)) {
    Fail(why, ctl::ErrorCode::Internal, 0, "a malformed vCPU state of %zu bytes", size);
    return nullptr;
  }
  return state;
}

std::unique_ptr<SavedState> KvmBackend::SaveState(Failure* why) {
  // On kvm_pvm RIP is past the OUT by the time we see the exit, so the only thing left
  // half done can be a register write-back waiting in kvm_run: hand it to KVM directly
  // (an extra KVM_RUN costs more). Hardware KVM finishes the port write on entry.
  if (kvm_pvm_ && vcpu_->sync_regs()) {
    if (vcpu_->run()->kvm_dirty_regs & KVM_SYNC_X86_REGS) {
      kvm_regs pending = vcpu_->regs();
      if (!vcpu_->SetRegs(pending, why)) return nullptr;
    }
  } else if (!FinishExit(why)) {
    return nullptr;
  }
  auto state = std::make_unique<KvmSavedState>();
  if (!SaveKvmState(kvm_, *vcpu_, kvm_pvm_, state.get(), why)) return nullptr;
  return state;
}

bool KvmBackend::RewindState(const SavedState& state, Failure* why) {
  const auto* s = dynamic_cast<const KvmSavedState*>(&state);
  if (!s) return Fail(why, ctl::ErrorCode::Internal, 0, "not a KVM vCPU state");
  return RewindKvmState(vcpu_.get(), *s, why);
}

bool KvmBackend::RestoreState(const SavedState& state, Failure* why) {
  const auto* s = dynamic_cast<const KvmSavedState*>(&state);
  if (!s) return Fail(why, ctl::ErrorCode::Internal, 0, "not a KVM vCPU state");
  return RestoreKvmState(vcpu_.get(), *s, why);
}

}  // namespace pvm::monitor
