#include "monitor/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>

#include "pvm/abi.h"

namespace pvm::monitor {

GuestMemory::~GuestMemory() {
  ReleaseWindows();
  if (owned_ && base_) munmap(base(), size_);
}

void GuestMemory::SetIdentity(uint64_t size, uint64_t floor, uint64_t hole) {
  ReleaseWindows();
  mapper_ = nullptr;
  if (owned_ && base_) munmap(base(), size_);
  base_ = 0;
  size_ = size;
  owned_ = false;
  floor_ = floor;
  hole_ = hole;
}

uint8_t* GuestMemory::Disown() {
  ReleaseWindows();
  mapper_ = nullptr;
  uint8_t* at = base();
  base_ = 0;
  size_ = 0;
  owned_ = false;
  return at;
}

void GuestMemory::Adopt(uint8_t* base, uint64_t size) {
  ReleaseWindows();
  mapper_ = nullptr;
  if (owned_ && base_) munmap(this->base(), size_);
  base_ = reinterpret_cast<uintptr_t>(base);
  size_ = size;
  owned_ = base != nullptr;
}

bool GuestMemory::Allocate(uint64_t size, Failure* why) {
  if (size == 0 || size % kHugePage != 0) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM size %llu is not a multiple of 2 MiB",
                static_cast<unsigned long long>(size));
  }
  // Over-allocate by one huge page and trim, so the RAM starts on a 2 MiB boundary and
  // every 2 MiB guest page can be one host huge page. NORESERVE: RAM is committed as the
  // guest touches it, not up front.
  ReleaseWindows();
  mapper_ = nullptr;
  if (owned_ && base_) munmap(base(), size_);
  base_ = 0;
  size_ = 0;
  owned_ = false;
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
  base_ = aligned;
  size_ = size;
  owned_ = true;
  floor_ = PVM_PAGE_SIZE;
  hole_ = 0;
  // THP is in "madvise" mode on our hosts: without this every guest page is 4 KiB on the
  // host too, and a guest's first touch of a page costs ~3x more under kvm_pvm (21 vs 7
  // us measured). Not for the first two and the last 2 MiB though: they hold the boot
  // data, the start of the image and the top of the stack, of which a small guest
  // touches a handful of pages, while each huge page there would be a 2 MiB clear
  // (~0.4 ms here) at every boot. Best effort: RAM works without it.
  if (size_ > 3 * kHugePage) madvise(base() + 2 * kHugePage, size_ - 3 * kHugePage, MADV_HUGEPAGE);
  return true;
}

void GuestMemory::SetWindowed(uint64_t size, RamMapper* mapper) {
  ReleaseWindows();
  if (owned_ && base_) munmap(base(), size_);
  base_ = 0;
  size_ = size;
  owned_ = false;
  floor_ = PVM_PAGE_SIZE;
  hole_ = 0;
  mapper_ = mapper;
}

uint8_t* GuestMemory::WindowAt(uint64_t gpa, uint64_t len) const {
  if (!RangeInRam(size_, gpa, len)) return nullptr;
  if (len == 0) {
    // Never read or written; mapping a page for it would be waste (and gpa may be size_).
    static uint8_t nothing;
    return &nothing;
  }
  uint64_t first = gpa / PVM_PAGE_SIZE;
  uint64_t last = (gpa + len - 1) / PVM_PAGE_SIZE;  // no overflow: inside RAM
  for (Window& w : windows_) {
    if (w.first <= first && last < w.first + w.count) {
      w.used = ++uses_;
      return w.at + (gpa - w.first * PVM_PAGE_SIZE);
    }
  }
  uint64_t count = last - first + 1;
  uint8_t* at = mapper_->Map(first, count);
  if (!at) return nullptr;
  windows_.push_back(Window{first, count, at, ++uses_});
  return at + (gpa - first * PVM_PAGE_SIZE);
}

void GuestMemory::Trim(size_t keep_windows, uint64_t keep_pages) const {
  if (windows_.empty()) return;
  // Most recently used first; keep from the front while within both bounds.
  std::sort(windows_.begin(), windows_.end(), [](const Window& a, const Window& b) { return a.used > b.used; });
  size_t kept = 0;
  uint64_t pages = 0;
  for (const Window& w : windows_) {
    if (kept < keep_windows && pages + w.count <= keep_pages) {
      windows_[kept++] = w;
      pages += w.count;
    } else {
      mapper_->Unmap(w.at, w.count);
    }
  }
  windows_.resize(kept);
}

uint64_t GuestMemory::window_bytes() const {
  uint64_t pages = 0;
  for (const Window& w : windows_) pages += w.count;
  return pages * PVM_PAGE_SIZE;
}

WholeRam::~WholeRam() {
  if (mapper_) mapper_->Unmap(span_.data(), span_.size() / PVM_PAGE_SIZE);
}

bool WholeRam::Open(const GuestMemory& ram, Failure* why) {
  if (!ram.windowed()) {
    span_ = ram.span();
    return true;
  }
  uint8_t* at = ram.mapper_->Map(0, ram.size() / PVM_PAGE_SIZE);
  if (!at) return FailErrno(why, ctl::ErrorCode::NoMemory, "cannot map guest RAM for loading");
  mapper_ = ram.mapper_;
  span_ = {at, static_cast<size_t>(ram.size())};
  return true;
}

bool GuestMemory::MapFile(uint64_t gpa, int fd, uint64_t offset, uint64_t length) const {
  if (mapper_) return false;
  if (!RangeInRam(size_, gpa, length) || gpa % PVM_PAGE_SIZE || offset % PVM_PAGE_SIZE || length % PVM_PAGE_SIZE) {
    return false;
  }
  // A mapping of its own first, then moved over the RAM in one step (mremap is atomic
  // for the target range): a failure never leaves a hole in guest RAM.
  void* file = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(offset));
  if (file == MAP_FAILED) return false;
  void* moved = mremap(file, length, length, MREMAP_MAYMOVE | MREMAP_FIXED, base() + gpa);
  if (moved == MAP_FAILED) {
    munmap(file, length);
    return false;
  }
  return true;
}

uint8_t* GuestMemory::GuestBuffer(uint64_t gpa, uint64_t len) const {
  if (!RangeInRam(size_, gpa, len)) return nullptr;
  if (len == 0) {
    // Never read or written: any non-null address will do (identity RAM puts guest
    // address 0 at host address 0, which would read as "no buffer").
    static uint8_t nothing;
    uint8_t* at = At(gpa, 0);
    return at ? at : &nothing;
  }
  if (gpa < floor_) return nullptr;
  if (hole_ != 0 && gpa < hole_ + PVM_PAGE_SIZE && (gpa >= hole_ || hole_ - gpa < len)) return nullptr;
  return At(gpa, len);
}

}  // namespace pvm::monitor
