#include "monitor/backends/process/address_space.h"

#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "monitor/boot_setup.h"
#include "monitor/guest_memory.h"
#include "pvm/abi.h"

namespace pvm::monitor::process {

namespace {

constexpr int kRwx = PROT_READ | PROT_WRITE | PROT_EXEC;

void* At(uint64_t a) { return reinterpret_cast<void*>(a); }

// The reservation again over [lo, hi): drops the pages there.
bool Unreserve(uint64_t lo, uint64_t hi) {
  return mmap(At(lo), hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) != MAP_FAILED;
}

bool GuardAndHint(uint64_t ram_size, Failure* why) {
  if (mprotect(At(StackGuardGpa(ram_size)), PVM_PAGE_SIZE, PROT_NONE) != 0) {
    return FailErrno(why, ctl::ErrorCode::NoMemory, "the stack guard page");
  }
  // Huge pages where a guest's bulk is (as GuestMemory::Allocate; best effort).
  if (ram_size > 3 * kHugePage) madvise(At(2 * kHugePage), ram_size - 3 * kHugePage, MADV_HUGEPAGE);
  return true;
}

}  // namespace

uint64_t GuestLimit() { return PVM_CHANNEL_WINDOW_GPA + uint64_t{PVM_CHANNEL_SLOTS} * PVM_CHANNEL_SLOT_SIZE; }

bool CheckMonitorOutside(Failure* why) {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (!maps) return FailErrno(why, ctl::ErrorCode::Internal, "/proc/self/maps");
  char line[512];
  bool ok = true;
  while (ok && fgets(line, sizeof line, maps)) {
    uint64_t lo = 0, hi = 0;
    if (sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi) != 2) continue;
    if (lo < GuestLimit()) {
      line[strcspn(line, "\n")] = 0;
      ok = Fail(why, ctl::ErrorCode::Internal, 0,
                "the monitor has a mapping inside the guest's addresses (below 0x%" PRIx64 "; is it PIE?): %s",
                GuestLimit(), line);
    }
  }
  fclose(maps);
  return ok;
}

bool Reserve(Failure* why) {
  uint64_t lo = kRamFloor, hi = GuestLimit();
  void* r = mmap(At(lo), hi - lo, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (r == MAP_FAILED) return FailErrno(why, ctl::ErrorCode::NoMemory, "reserving the guest's addresses");
  if (r != At(lo)) {  // kernels before 4.17 take NOREPLACE as a hint only
    munmap(r, hi - lo);
    return Fail(why, ctl::ErrorCode::Internal, 0, "reserving the guest's addresses: no MAP_FIXED_NOREPLACE (Linux < 4.17)");
  }
  return true;
}

bool MapRam(uint64_t ram_size, Failure* why) {
  void* r = mmap(At(kRamFloor), ram_size - kRamFloor, kRwx, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (r == MAP_FAILED) return FailErrno(why, ctl::ErrorCode::NoMemory, "cannot map guest RAM");
  return GuardAndHint(ram_size, why);
}

bool MoveRamIn(uint8_t* staged, uint64_t ram_size, uint64_t old_size, Failure* why) {
  // One mremap per 2 MiB: mremap takes a range inside one mapping, and the staged RAM
  // is split at 2 MiB boundaries (its huge-page hint). Each replaces the old RAM under it.
  for (uint64_t at = kRamFloor; at < ram_size;) {
    uint64_t next = (at + kHugePage) & ~(kHugePage - 1);
    if (next > ram_size) next = ram_size;
    void* r = mremap(staged + at, next - at, next - at, MREMAP_MAYMOVE | MREMAP_FIXED, At(at));
    if (r == MAP_FAILED) return FailErrno(why, ctl::ErrorCode::NoMemory, "moving the new guest RAM in place");
    at = next;
  }
  if (old_size > ram_size && !Unreserve(ram_size, old_size)) {
    return FailErrno(why, ctl::ErrorCode::NoMemory, "dropping the old guest RAM");
  }
  if (mprotect(At(kRamFloor), ram_size - kRamFloor, kRwx) != 0) {
    return FailErrno(why, ctl::ErrorCode::NoMemory, "making guest RAM executable");
  }
  return GuardAndHint(ram_size, why);
}

bool MapFile(uint64_t gpa, int fd, uint64_t offset, uint64_t length) {
  if (gpa % PVM_PAGE_SIZE || offset % PVM_PAGE_SIZE || length % PVM_PAGE_SIZE || length == 0) return false;
  // Executable: the guest runs its text from here (a noexec filesystem refuses: a copy it stays).
  void* file = mmap(nullptr, length, kRwx, MAP_PRIVATE, fd, static_cast<off_t>(offset));
  if (file == MAP_FAILED) return false;
  if (mremap(file, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, At(gpa)) == MAP_FAILED) {
    munmap(file, length);
    return false;
  }
  return true;
}

bool MapShared(uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) {
  void* r = mremap(host, 0, size, MREMAP_MAYMOVE | MREMAP_FIXED, At(gpa));
  if (r == MAP_FAILED) return FailErrno(why, ctl::ErrorCode::NoMemory, "mapping a shared region into the guest");
  return true;
}

void Unmap(uint64_t gpa, uint64_t size) { Unreserve(gpa, gpa + size); }

namespace {
bool g_sled = false;  // page 0 is the sled (a fork(2) child has it too)
}  // namespace

bool MapSled(const uint8_t* page) {
  if (!page) {
    if (g_sled) munmap(At(0), PVM_PAGE_SIZE);
    g_sled = false;
    return false;
  }
  // Filled elsewhere, then moved to address 0 (never a write through a null pointer):
  // the kernel allows address 0 only below vm.mmap_min_addr's floor = with
  // CAP_SYS_RAWIO, or where that floor is 0. Replaces the sled of an earlier image.
  void* fill = mmap(nullptr, PVM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fill == MAP_FAILED) return g_sled = false;
  std::memcpy(fill, page, PVM_PAGE_SIZE);
  if (mprotect(fill, PVM_PAGE_SIZE, PROT_READ | PROT_EXEC) != 0 ||
      mremap(fill, PVM_PAGE_SIZE, PVM_PAGE_SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, At(0)) == MAP_FAILED) {
    munmap(fill, PVM_PAGE_SIZE);
    if (g_sled) munmap(At(0), PVM_PAGE_SIZE);
    return g_sled = false;
  }
  return g_sled = true;
}

}  // namespace pvm::monitor::process
