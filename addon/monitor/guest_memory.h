// Guest RAM as the monitor sees it: the core reads and writes it through At/GuestBuffer
// (offset = guest-physical address). Who makes it is the backend's business
// (Backend::Create, AllocateMemory, ShareFilePages): Allocate and MapFile here are the
// helpers for backends whose RAM is an anonymous mapping in the monitor (kvm; process):
// 2 MiB aligned, backed by transparent huge pages, private so that a fork(2) of the
// monitor gives the child a copy-on-write copy of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "monitor/failure.h"

namespace pvm::monitor {

constexpr uint64_t kHugePage = 2 * 1024 * 1024;

// True if [gpa, gpa + len) lies inside a RAM of ram_size bytes. Overflow-safe: never
// computes gpa + len.
inline bool RangeInRam(uint64_t ram_size, uint64_t gpa, uint64_t len) {
  return gpa <= ram_size && len <= ram_size - gpa;
}

class GuestMemory {
 public:
  GuestMemory() = default;
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  // For backends: maps size bytes (a multiple of 2 MiB) of zeroed RAM. NoMemory on failure.
  bool Allocate(uint64_t size, Failure* why);

  // For backends whose RAM sits at the guest's own addresses in the monitor (process:
  // host address = guest address): this object then names that RAM without owning it.
  // The monitor cannot touch [0, floor) nor the page at `hole` (0: none; the stack
  // guard) there: GuestBuffer refuses them.
  void SetIdentity(uint64_t size, uint64_t floor, uint64_t hole);
  // For backends: gives up the mapping without unmapping it (it was moved elsewhere);
  // returns where it was.
  uint8_t* Disown();
  // For backends whose RAM mapping is made elsewhere (xen: a foreign mapping of the
  // domain's RAM): takes [base, base + size), released with munmap like Allocate's.
  void Adopt(uint8_t* base, uint64_t size);

  // Exchanges the RAM of two objects (exec puts a new image's RAM in place).
  void Swap(GuestMemory& other) {
    std::swap(base_, other.base_);
    std::swap(size_, other.size_);
    std::swap(owned_, other.owned_);
    std::swap(floor_, other.floor_);
    std::swap(hole_, other.hole_);
  }

  // Where guest-physical 0 is in the monitor: 0 for identity RAM (then it is a number,
  // never dereferenced as such: every access adds a gpa inside RAM).
  uint8_t* base() const { return reinterpret_cast<uint8_t*>(base_); }
  uint64_t size() const { return size_; }
  std::span<uint8_t> span() const { return {base(), static_cast<size_t>(size_)}; }

  // Host address of [gpa, gpa + len) for the monitor's own use, or nullptr if outside RAM.
  uint8_t* At(uint64_t gpa, uint64_t len) const {
    if (!RangeInRam(size_, gpa, len)) return nullptr;
    if (touched_) Touch(gpa, len);
    return reinterpret_cast<uint8_t*>(base_ + gpa);
  }

  // For reset (monitor/reset.h): every page the monitor reaches through At/GuestBuffer
  // from now on is marked in `bitmap` (a bit per 4 KiB page, `pages` of them), written
  // or only read: a backend's dirty log sees the guest's writes, not the monitor's.
  // nullptr turns it off. Not moved by Swap.
  void TrackAccess(uint64_t* bitmap, uint64_t pages) const {
    touched_ = bitmap;
    touched_pages_ = pages;
  }

  // For backends: maps [offset, offset + length) of file `fd` privately at gpa (page aligned, inside
  // RAM), replacing what is there: the caller put identical bytes there already, so if
  // this fails nothing is lost (false, RAM as it was).
  bool MapFile(uint64_t gpa, int fd, uint64_t offset, uint64_t length) const;

  // Host address of a buffer the guest passed to a hypercall, or nullptr if any byte of
  // it is outside RAM or in page 0 (which the guest cannot map either), or (identity
  // RAM) in what the monitor cannot touch: the hypercall then fails with -PVM_EFAULT.
  // A zero-length buffer is accepted anywhere in RAM.
  uint8_t* GuestBuffer(uint64_t gpa, uint64_t len) const;

 private:
  uintptr_t base_ = 0;
  uint64_t size_ = 0;
  bool owned_ = false;  // unmapped by the destructor
  uint64_t floor_ = 4096;  // GuestBuffer refuses [0, floor_) (page 0 at least)
  uint64_t hole_ = 0;   // and this page, if not 0
  mutable uint64_t* touched_ = nullptr;  // TrackAccess
  mutable uint64_t touched_pages_ = 0;

  void Touch(uint64_t gpa, uint64_t len) const {
    if (len == 0) return;
    for (uint64_t page = gpa >> 12, last = (gpa + len - 1) >> 12; page <= last && page < touched_pages_; page++) {
      touched_[page >> 6] |= 1ull << (page & 63);
    }
  }
};

}  // namespace pvm::monitor
