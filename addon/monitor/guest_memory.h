// Guest RAM as the monitor sees it: the core reads and writes it through At/GuestBuffer
// (offset = guest-physical address). Who makes it is the backend's business
// (Backend::Create, AllocateMemory, ShareFilePages): Allocate and MapFile here are the
// helpers for backends whose RAM is an anonymous mapping in the monitor (kvm; process):
// 2 MiB aligned, backed by transparent huge pages, private so that a fork(2) of the
// monitor gives the child a copy-on-write copy of it.
//
// Two kinds: flat (all RAM mapped at base(): kvm, process) and windowed (SetWindowed: a
// backend that must not keep RAM mapped, xen, where a fork needs the parent's RAM
// unmapped). Windowed RAM maps the pages an At/GuestBuffer covers when it is asked for
// (a "window"), and keeps a few recently used windows across exits (TrimWindows); the
// loader and boot set-up get all of it only for as long as a WholeRam lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "monitor/failure.h"

namespace pvm::monitor {

constexpr uint64_t kHugePage = 2 * 1024 * 1024;

// True if [gpa, gpa + len) lies inside a RAM of ram_size bytes. Overflow-safe: never
// computes gpa + len.
inline bool RangeInRam(uint64_t ram_size, uint64_t gpa, uint64_t len) {
  return gpa <= ram_size && len <= ram_size - gpa;
}

// What a backend with windowed RAM gives GuestMemory: maps guest pages [first_page,
// first_page + count) readable and writable into the monitor, or nullptr if it cannot
// (a page that is not there); Unmap undoes one Map with the same count.
class RamMapper {
 public:
  virtual uint8_t* Map(uint64_t first_page, uint64_t count) = 0;
  virtual void Unmap(uint8_t* at, uint64_t count) = 0;

 protected:
  ~RamMapper() = default;
};

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

  // For backends that cannot keep guest RAM mapped (xen): size bytes of RAM reached
  // through `mapper` (which must outlive this use), nothing mapped yet. Page 0 is
  // refused by GuestBuffer as for flat RAM.
  void SetWindowed(uint64_t size, RamMapper* mapper);

  // Exchanges the RAM of two objects (exec puts a new image's RAM in place).
  void Swap(GuestMemory& other) {
    std::swap(base_, other.base_);
    std::swap(size_, other.size_);
    std::swap(owned_, other.owned_);
    std::swap(floor_, other.floor_);
    std::swap(hole_, other.hole_);
    std::swap(mapper_, other.mapper_);
    std::swap(windows_, other.windows_);
    std::swap(uses_, other.uses_);
  }

  // Where guest-physical 0 is in the monitor: 0 for identity RAM (then it is a number,
  // never dereferenced as such: every access adds a gpa inside RAM), and for windowed RAM.
  uint8_t* base() const { return reinterpret_cast<uint8_t*>(base_); }
  uint64_t size() const { return size_; }
  // All of flat RAM; empty for windowed RAM (use a WholeRam).
  std::span<uint8_t> span() const {
    if (mapper_) return {};
    return {base(), static_cast<size_t>(size_)};
  }
  bool windowed() const { return mapper_ != nullptr; }

  // Host address of [gpa, gpa + len) for the monitor's own use, or nullptr if outside RAM
  // (windowed RAM: also if it cannot be mapped). Flat RAM: valid while the RAM is.
  // Windowed RAM: valid until the next TrimWindows or ReleaseWindows, i.e. for the
  // handling of the current exit; never keep it longer.
  uint8_t* At(uint64_t gpa, uint64_t len) const {
    if (mapper_) return WindowAt(gpa, len);
    if (!RangeInRam(size_, gpa, len)) return nullptr;
    if (touched_) Touch(gpa, len);
    return reinterpret_cast<uint8_t*>(base_ + gpa);
  }

  // For reset (monitor/reset.h): every page the monitor reaches through At/GuestBuffer
  // from now on is marked in `bitmap` (a bit per 4 KiB page, `pages` of them), written
  // or only read: a backend's dirty log sees the guest's writes, not the monitor's.
  // nullptr turns it off. Not moved by Swap. Flat RAM only (reset: kvm, process).
  void TrackAccess(uint64_t* bitmap, uint64_t pages) const {
    touched_ = bitmap;
    touched_pages_ = pages;
  }

  // The vCPU loop's trim point, before the guest runs again: windowed RAM unmaps all but
  // a few recently used windows (the argument block, the boot-info page, the console
  // ring stay). Nothing for flat RAM.
  void TrimWindows() const {
    if (mapper_) Trim(kKeepWindows, kKeepPages);
  }
  // Unmaps every window (before a fork of the VM; before RAM changes size). The next
  // At maps again. Nothing for flat RAM.
  void ReleaseWindows() const {
    if (mapper_) Trim(0, 0);
  }
  // Bytes of guest RAM mapped in the monitor now through windows (0 for flat RAM).
  uint64_t window_bytes() const;

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
  friend class WholeRam;
  // A mapping of pages [first, first + count) at `at`; `used` orders them by last use.
  struct Window {
    uint64_t first;
    uint64_t count;
    uint8_t* at;
    uint64_t used;
  };
  // Kept across exits: the block (1 page), the boot-info page, the 16-page console ring,
  // a buffer or two.
  static constexpr size_t kKeepWindows = 6;
  static constexpr uint64_t kKeepPages = 32;

  uint8_t* WindowAt(uint64_t gpa, uint64_t len) const;
  void Trim(size_t keep_windows, uint64_t keep_pages) const;

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
  RamMapper* mapper_ = nullptr;  // windowed RAM
  mutable std::vector<Window> windows_;  // a cache: At is const, what it maps is not RAM
  mutable uint64_t uses_ = 0;
};

// All of RAM as one span, for the loader and boot set-up, which write all over it. Flat
// RAM: the RAM itself. Windowed RAM: one mapping of all of it, made by Open and unmapped
// when this goes: keep it only while the guest does not run.
class WholeRam {
 public:
  WholeRam() = default;
  ~WholeRam();
  WholeRam(const WholeRam&) = delete;
  WholeRam& operator=(const WholeRam&) = delete;

  bool Open(const GuestMemory& ram, Failure* why);
  std::span<uint8_t> span() const { return span_; }

 private:
  RamMapper* mapper_ = nullptr;  // set while this holds a mapping
  std::span<uint8_t> span_;
};

}  // namespace pvm::monitor
