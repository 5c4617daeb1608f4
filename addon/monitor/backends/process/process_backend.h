// The `process` backend: the guest runs inside the monitor process at its own
// addresses, like Solo5's spt ("unikernels as processes"), confined by the monitor's
// seccomp filter; no hypervisor. A hypercall is an ordinary call into the monitor
// (boot info hypercall_entry), faults are signals decoded into the x86 exceptions kvm
// reports, kicks are the same signals, and a fork of the pVM is fork(2) of the monitor
// with nothing to rebuild. See README.md here and docs/architecture.md "Backends".
#pragma once

#include <signal.h>

#include <map>
#include <memory>

#include "monitor/backend.h"
#include "monitor/backends/process/context.h"
#include "monitor/backends/process/dirty_log.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor {

class ProcessBackend final : public Backend {
 public:
  ProcessBackend();
  ~ProcessBackend() override;

  bool Prepare(Failure* why) override;
  bool Create(uint64_t ram_size, Failure* why) override;
  const GuestMemory& memory() const override { return memory_; }
  // exec: staging RAM anywhere, moved to the guest's addresses by ReplaceMemory.
  bool AllocateMemory(uint64_t size, GuestMemory* out, Failure* why) override { return out->Allocate(size, why); }
  bool ReplaceMemory(GuestMemory&& fresh, Failure* why) override;
  // The image file mapped privately (and executable) over the guest's RAM at gpa. Only
  // for the guest's own RAM (boot): exec's staging RAM is moved in 2 MiB pieces, which
  // file mappings would split, so an exec'd image is a copy. Best effort.
  bool ShareFilePages(const GuestMemory& ram, uint64_t gpa, int fd, uint64_t offset, uint64_t length) override;
  bool MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) override;
  void UnmapRegion(uint32_t index) override;

  bool SetEntryState(const EntryState& entry, Failure* why) override;
  bool SetEntryRegs(const EntryState& entry, Failure* why) override { return SetEntryState(entry, why); }
  bool WarmUp(Failure*) override { return true; }  // nothing to warm: no VM
  bool Run(VcpuExit* exit, Failure* why) override;
  bool SetKickSignals(const sigset_t& kick, Failure* why) override;
  bool CompleteHypercall(Failure* why) override;
  bool FinishExit(Failure*) override { return true; }  // nothing is ever half done

  std::unique_ptr<SavedState> SaveState(Failure* why) override;
  bool RestoreState(const SavedState& state, Failure* why) override;
  std::unique_ptr<SavedState> LoadState(const uint8_t* bytes, size_t size, Failure* why) override;
  // fork(2) copies everything: RAM (copy-on-write), shared regions, the context, the
  // signal handlers and the seccomp filter. Nothing to do on either side.
  bool BeforeFork(Failure*) override { return true; }
  bool AfterForkInChild(Failure*) override { return true; }
  void AfterForkInParent() override {}
  // The dirty log (dirty_log.h) where the kernel has one (Linux 6.10+), for reset.
  DirtyLog* dirty_log() override { return log_.available() ? &log_ : nullptr; }
  // No warm fork spares: forks are plain fork(2), each saying spares-off.
  bool supports_spares() override { return false; }

  const char* name() const override { return "process"; }
  uint32_t flags() const override { return 0; }
  bool exception_stack_works() const override { return true; }  // signals use their own stack
  uint64_t exit_count() const override { return exits_; }

  bool needs_cpu_tables() const override { return false; }
  // Linux programs: the personality runs in user mode; its `syscall`s are the seccomp
  // filter's SIGSYS, sent to the personality (and its TLS needs wrfsbase in user mode).
  bool runs_linux_programs() const override;
  bool SetLinuxSyscalls(uint64_t syscall_entry, const uint8_t* sled) override;
  uint64_t hypercall_entry() const override;
  uint64_t guest_code_limit() const override;
  void SettleKicks() override;
  std::vector<SeccompArgRule> seccomp_arg_rules() const override;

 private:
  struct Region {
    uint64_t gpa;
    uint64_t size;
  };
  void SetMemory(uint64_t ram_size);

  GuestMemory memory_;
  // The one guest context of this process (switch.S finds it through proc_current).
  std::unique_ptr<proc_ctx> ctx_;
  std::map<uint32_t, Region> regions_;
  process::ProcessDirtyLog log_;
  // The instruction to step over when the hypercall in progress was a port write (an
  // image that does not use hypercall_entry): 0 for a call.
  uint8_t step_over_ = 0;
  bool prepared_ = false;
  bool signals_ = false;
  uint64_t exits_ = 0;
};

}  // namespace pvm::monitor
