#include "fuzz/fake_backend.h"

#include "fuzz/fuzz_common.h"

namespace pvm::fuzz {

using monitor::Fail;
using monitor::Failure;

bool FakeBackend::Prepare(Failure*) { return true; }

bool FakeBackend::Create(uint64_t ram_size, Failure* why) { return memory_.Allocate(ram_size, why); }

bool FakeBackend::AllocateMemory(uint64_t size, monitor::GuestMemory* out, Failure* why) {
  return out->Allocate(size, why);
}

bool FakeBackend::ShareFilePages(const monitor::GuestMemory& ram, uint64_t gpa, int fd, uint64_t offset,
                                 uint64_t length) {
  return ram.MapFile(gpa, fd, offset, length);
}

bool FakeBackend::WarmUp(Failure*) { return true; }

bool FakeBackend::SetEntryState(const monitor::EntryState& entry, Failure*) {
  entry_ = entry;
  entry_states_++;
  return true;
}

bool FakeBackend::SetEntryRegs(const monitor::EntryState& entry, Failure*) {
  entry_.rip = entry.rip;
  entry_.rsp = entry.rsp;
  entry_.rdi = entry.rdi;
  entry_.rflags = entry.rflags;
  entry_states_++;
  return true;
}

bool FakeBackend::Run(monitor::VcpuExit*, Failure* why) {
  return Fail(why, ctl::ErrorCode::Internal, 0, "the fake backend has no vCPU to run");
}

bool FakeBackend::SetKickSignals(const sigset_t&, Failure*) { return true; }

bool FakeBackend::CompleteHypercall(Failure*) { return true; }

std::unique_ptr<monitor::SavedState> FakeBackend::SaveState(Failure* why) {
  Fail(why, ctl::ErrorCode::Internal, 0, "the fake backend has no vCPU state");
  return nullptr;
}

bool FakeBackend::RestoreState(const monitor::SavedState&, Failure* why) {
  return Fail(why, ctl::ErrorCode::Internal, 0, "the fake backend has no vCPU state");
}

std::unique_ptr<monitor::SavedState> FakeBackend::LoadState(const uint8_t*, size_t, Failure* why) {
  Fail(why, ctl::ErrorCode::Internal, 0, "the fake backend has no vCPU state");
  return nullptr;
}

bool FakeBackend::SetLogging(bool, Failure*) { return true; }

bool FakeBackend::Take(std::vector<uint64_t>* pages, Failure*) {
  pages->clear();
  return true;
}

// What the channel table must ask for: slot s as region s + 1 at its place in the
// channel window, whole pages of a page-aligned mapping no larger than a slot, and a
// region only once until it is unmapped.
bool FakeBackend::MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure*) {
  PVM_FUZZ_CHECK(index >= 1 && index <= PVM_CHANNEL_SLOTS, "MapRegion index %u", index);
  PVM_FUZZ_CHECK(gpa == PVM_CHANNEL_WINDOW_GPA + (index - 1) * PVM_CHANNEL_SLOT_SIZE, "MapRegion %u at gpa 0x%llx",
                 index, static_cast<unsigned long long>(gpa));
  PVM_FUZZ_CHECK(host && reinterpret_cast<uintptr_t>(host) % PVM_PAGE_SIZE == 0 && size > 0 &&
                     size % PVM_PAGE_SIZE == 0 && size <= PVM_CHANNEL_SLOT_SIZE,
                 "MapRegion %u: host %p size 0x%llx", index, static_cast<void*>(host),
                 static_cast<unsigned long long>(size));
  PVM_FUZZ_CHECK(!mapped_[index], "MapRegion %u: already mapped", index);
  mapped_[index] = true;
  return true;
}

void FakeBackend::UnmapRegion(uint32_t index) {
  PVM_FUZZ_CHECK(index >= 1 && index <= PVM_CHANNEL_SLOTS && mapped_[index], "UnmapRegion %u: not mapped", index);
  mapped_[index] = false;
}

uint32_t FakeBackend::mapped_regions() const {
  uint32_t n = 0;
  for (bool m : mapped_) n += m;
  return n;
}

bool FakeBackend::FinishExit(Failure*) { return true; }

bool FakeBackend::ReplaceMemory(monitor::GuestMemory&& fresh, Failure*) {
  memory_.Swap(fresh);  // fresh now holds the old RAM and frees it
  memory_replacements_++;
  return true;
}

bool FakeBackend::BeforeFork(Failure* why) {
  return Fail(why, ctl::ErrorCode::Internal, 0, "the fake backend does not fork");
}

bool FakeBackend::AfterForkInChild(Failure* why) {
  return Fail(why, ctl::ErrorCode::Internal, 0, "the fake backend does not fork");
}

}  // namespace pvm::fuzz
