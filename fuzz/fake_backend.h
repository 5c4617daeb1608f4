// A Backend (monitor/backend.h) without a VM, for the hypercall fuzz harness: real
// guest RAM (GuestMemory), no vCPU. It records what the monitor asked of it and checks
// the region mappings the channel table makes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "monitor/backend.h"
#include "pvm/abi.h"

namespace pvm::fuzz {

class FakeBackend final : public monitor::Backend, private monitor::DirtyLog {
 public:
  bool Prepare(monitor::Failure* why) override;
  bool Create(uint64_t ram_size, monitor::Failure* why) override;
  const monitor::GuestMemory& memory() const override { return memory_; }
  bool AllocateMemory(uint64_t size, monitor::GuestMemory* out, monitor::Failure* why) override;
  bool ShareFilePages(const monitor::GuestMemory& ram, uint64_t gpa, int fd, uint64_t offset,
                      uint64_t length) override;
  bool WarmUp(monitor::Failure* why) override;
  bool SetEntryState(const monitor::EntryState& entry, monitor::Failure* why) override;
  bool SetEntryRegs(const monitor::EntryState& entry, monitor::Failure* why) override;
  bool Run(monitor::VcpuExit* exit, monitor::Failure* why) override;
  bool SetKickSignals(const sigset_t& kick, monitor::Failure* why) override;
  bool CompleteHypercall(monitor::Failure* why) override;
  std::unique_ptr<monitor::SavedState> SaveState(monitor::Failure* why) override;
  bool RestoreState(const monitor::SavedState& state, monitor::Failure* why) override;
  std::unique_ptr<monitor::SavedState> LoadState(const uint8_t* bytes, size_t size, monitor::Failure* why) override;
  bool MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, monitor::Failure* why) override;
  void UnmapRegion(uint32_t index) override;
  bool FinishExit(monitor::Failure* why) override;
  bool ReplaceMemory(monitor::GuestMemory&& fresh, monitor::Failure* why) override;
  bool BeforeFork(monitor::Failure* why) override;
  bool AfterForkInChild(monitor::Failure* why) override;
  void AfterForkInParent() override {}
  monitor::DirtyLog* dirty_log() override { return this; }
  const char* name() const override { return "fake"; }
  uint32_t flags() const override { return 0; }
  bool exception_stack_works() const override { return true; }
  uint64_t exit_count() const override { return 0; }

  // What the monitor did.
  const monitor::EntryState& entry() const { return entry_; }
  uint64_t entry_states() const { return entry_states_; }
  uint64_t memory_replacements() const { return memory_replacements_; }
  uint32_t mapped_regions() const;

 private:
  // DirtyLog: nothing is ever written by a vCPU here.
  bool SetLogging(bool on, monitor::Failure* why) override;
  bool Take(std::vector<uint64_t>* pages, monitor::Failure* why) override;

  monitor::GuestMemory memory_;
  monitor::EntryState entry_{};
  uint64_t entry_states_ = 0;
  uint64_t memory_replacements_ = 0;
  std::array<bool, PVM_CHANNEL_SLOTS + 1> mapped_{};  // by region index (0 is RAM)
};

}  // namespace pvm::fuzz
