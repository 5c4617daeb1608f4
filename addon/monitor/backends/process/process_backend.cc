#include "monitor/backends/process/process_backend.h"

#include <sys/mman.h>

#include <cstring>

#include "monitor/backends/process/address_space.h"
#include "monitor/backends/process/exits.h"
#include "monitor/backends/process/guest_signals.h"
#include "monitor/boot_setup.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// The guest context as plain bytes: fork's saved state (and a spare's, were there any).
class ProcessSavedState final : public SavedState {
 public:
  proc_ctx ctx{};
  void Serialize(std::vector<uint8_t>* out) const override {
    const auto* p = reinterpret_cast<const uint8_t*>(&ctx);
    out->assign(p, p + sizeof ctx);
  }
};

}  // namespace

ProcessBackend::ProcessBackend() : ctx_(std::make_unique<proc_ctx>()) {}

ProcessBackend::~ProcessBackend() {
  // The guest's RAM and regions, and the reservation: the monitor may outlive its guest
  // (waiting for its children) and should be small then.
  if (prepared_) munmap(reinterpret_cast<void*>(process::kRamFloor), process::GuestLimit() - process::kRamFloor);
}

bool ProcessBackend::Prepare(Failure* why) {
  if (prepared_) return true;
  if (!process::CheckMonitorOutside(why) || !process::Reserve(why)) return false;
  log_.Probe();  // before confinement; without it there is no dirty log (reset: ENOSYS)
  prepared_ = true;
  return true;
}

void ProcessBackend::SetMemory(uint64_t ram_size) {
  memory_.SetIdentity(ram_size, process::kRamFloor, StackGuardGpa(ram_size));
  log_.SetRange(process::kRamFloor, ram_size);
}

bool ProcessBackend::Create(uint64_t ram_size, Failure* why) {
  if (!Prepare(why)) return false;
  if (ram_size <= process::kRamFloor + PVM_STACK_SIZE || ram_size > PVM_CHANNEL_WINDOW_GPA) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM of %s does not fit the process layout",
                SizeText(ram_size).c_str());
  }
  if (!process::MapRam(ram_size, why)) return false;
  SetMemory(ram_size);
  return true;
}

bool ProcessBackend::ReplaceMemory(GuestMemory&& fresh, Failure* why) {
  uint64_t size = fresh.size();
  if (size <= process::kRamFloor + PVM_STACK_SIZE || size > PVM_CHANNEL_WINDOW_GPA) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM of %s does not fit the process layout",
                SizeText(size).c_str());
  }
  // A failure part way leaves RAM half replaced: mremap fails only when the kernel is
  // out of mappings, and the guest then faults rather than runs on wrong memory.
  if (!process::MoveRamIn(fresh.base(), size, memory_.size(), why)) return false;
  // What is left of the staging mapping is its first 64 KiB (never guest memory here).
  uint8_t* staged = fresh.Disown();
  munmap(staged, process::kRamFloor);
  SetMemory(size);
  return true;
}

bool ProcessBackend::ShareFilePages(const GuestMemory& ram, uint64_t gpa, int fd, uint64_t offset, uint64_t length) {
  if (&ram != &memory_ || !ram.GuestBuffer(gpa, length)) return false;  // also refuses the guard page
  return process::MapFile(gpa, fd, offset, length);
}

bool ProcessBackend::MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) {
  if (gpa < PVM_CHANNEL_WINDOW_GPA || size > process::GuestLimit() - gpa || gpa % PVM_PAGE_SIZE) {
    return Fail(why, ctl::ErrorCode::Internal, 0, "region at 0x%llx is outside the channel window",
                static_cast<unsigned long long>(gpa));
  }
  if (!process::MapShared(gpa, host, size, why)) return false;
  regions_[index] = Region{gpa, size};
  return true;
}

void ProcessBackend::UnmapRegion(uint32_t index) {
  auto it = regions_.find(index);
  if (it == regions_.end()) return;
  process::Unmap(it->second.gpa, it->second.size);
  regions_.erase(it);
}

bool ProcessBackend::SetEntryState(const EntryState& e, Failure*) {
  // Only rip, rsp, rdi mean anything here: there are no CPU tables or control registers.
  process::InitContext(ctx_.get(), e.rip, e.rsp, e.rdi);
  step_over_ = 0;
  return true;
}

bool ProcessBackend::SetKickSignals(const sigset_t& kick, Failure* why) {
  process::SignalConfig config;
  config.kick = kick;
  config.guest_lo = process::kRamFloor;
  config.guest_hi = process::GuestLimit();
  if (!process::InstallSignals(config, why)) return false;
  signals_ = true;
  return true;
}

void ProcessBackend::SettleKicks() {
  if (signals_) process::SettleKicks();
}

std::vector<SeccompArgRule> ProcessBackend::seccomp_arg_rules() const {
  std::vector<SeccompArgRule> rules;
  log_.AddSeccompRules(&rules);
  return rules;
}

uint64_t ProcessBackend::hypercall_entry() const { return process::HypercallEntryAddress(); }

bool ProcessBackend::runs_linux_programs() const { return process::FsGsBaseUsable(); }

bool ProcessBackend::SetLinuxSyscalls(uint64_t syscall_entry, const uint8_t* sled) {
  process::SetLinuxSyscallEntry(syscall_entry);
  return process::MapSled(sled);
}
uint64_t ProcessBackend::guest_code_limit() const { return process::GuestLimit(); }

bool ProcessBackend::Run(VcpuExit* exit, Failure*) {
  int kind = process::Enter(ctx_.get());
  exits_++;
  step_over_ = 0;
  if (kind == PROC_EXIT_INTERRUPTED) {
    exit->kind = VcpuExit::Kind::Interrupted;
    return true;
  }
  if (kind == PROC_EXIT_HYPERCALL) {
    // The runtime called hypercall_entry(value, port): the same two things a port write
    // carries, so the core's transport serves it as on kvm.
    process::ExitFromCall(ctx_->rdi, ctx_->rsi, ctx_->rip, exit);
    return true;
  }
  process::ExitFromFault(process::LastFault(), exit, &step_over_);
  return true;
}

bool ProcessBackend::CompleteHypercall(Failure*) {
  // A call returns by itself (the result is in the block). A port write, resumed from
  // its signal frame, is stepped over.
  if (step_over_) ctx_->uc.uc_mcontext.gregs[REG_RIP] += step_over_;
  step_over_ = 0;
  return true;
}

std::unique_ptr<SavedState> ProcessBackend::SaveState(Failure*) {
  auto state = std::make_unique<ProcessSavedState>();
  std::memcpy(static_cast<void*>(&state->ctx), ctx_.get(), sizeof(proc_ctx));
  // The state after the hypercall in progress: a fork child resumes past it.
  if (step_over_) state->ctx.uc.uc_mcontext.gregs[REG_RIP] += step_over_;
  return state;
}

bool ProcessBackend::RestoreState(const SavedState& state, Failure* why) {
  const auto* s = dynamic_cast<const ProcessSavedState*>(&state);
  if (!s) return Fail(why, ctl::ErrorCode::Internal, 0, "not a process guest context");
  std::memcpy(static_cast<void*>(ctx_.get()), &s->ctx, sizeof(proc_ctx));
  // The frame points into the context itself, wherever this process keeps it.
  ctx_->frame = reinterpret_cast<uint64_t>(&ctx_->uc);
  ctx_->uc.uc_mcontext.fpregs = reinterpret_cast<fpregset_t>(ctx_->fpstate);
  step_over_ = 0;
  return true;
}

std::unique_ptr<SavedState> ProcessBackend::LoadState(const uint8_t* bytes, size_t size, Failure* why) {
  if (size != sizeof(proc_ctx)) {
    Fail(why, ctl::ErrorCode::Internal, 0, "a malformed guest context of %zu bytes", size);
    return nullptr;
  }
  auto state = std::make_unique<ProcessSavedState>();
  std::memcpy(static_cast<void*>(&state->ctx), bytes, size);
  if (state->ctx.resume != PROC_RESUME_REGS && state->ctx.resume != PROC_RESUME_FRAME) {
    Fail(why, ctl::ErrorCode::Internal, 0, "a guest context with resume kind %u", state->ctx.resume);
    return nullptr;
  }
  process::AdoptContext(&state->ctx);  // from a spare (this process's fork) or a snapshot (another's)
  return state;
}

}  // namespace pvm::monitor
