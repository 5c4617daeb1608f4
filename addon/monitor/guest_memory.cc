#include "monitor/guest_memory.h"

#include <sys/mman.h>

#include "pvm/abi.h"

namespace pvm::monitor {

GuestMemory::~GuestMemory() {
  if (base_) munmap(base_, size_);
}

bool GuestMemory::Allocate(uint64_t size, Failure* why) {
  if (size == 0 || size % kHugePage != 0) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM size %llu is not a multiple of 2 MiB",
                static_cast<unsigned long long>(size));
  }
  // Over-allocate by one huge page and trim, so the RAM starts on a 2 MiB boundary and
  // every 2 MiB guest page can be one host huge page. NORESERVE: RAM is committed as the
  // guest touches it, not up front.
  size_t span = size + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return FailErrno(why, ctl::ErrorCode::NoMemory, "cannot map guest RAM");
  uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  size_t head = aligned - start;
  size_t tail = span - head - size;
  if (head) munmap(raw, head);
  if (tail) munmap(reinterpret_cast<void*>(aligned + size), tail);
  base_ = reinterpret_cast<uint8_t*>(aligned);
  size_ = size;
  // THP is in "madvise" mode on our hosts: without this every guest page is 4 KiB on the
  // host too, and the kvm_pvm shadow-paging faults cost several times more. Best effort.
  madvise(base_, size_, MADV_HUGEPAGE);
  return true;
}

uint8_t* GuestMemory::GuestBuffer(uint64_t gpa, uint64_t len) const {
  if (!RangeInRam(size_, gpa, len)) return nullptr;
  if (len != 0 && gpa < PVM_PAGE_SIZE) return nullptr;
  return base_ + gpa;
}

}  // namespace pvm::monitor
