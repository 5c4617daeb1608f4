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

  // For backends whose RAM mapping is made elsewhere (xen: a foreign mapping of the
  // domain's RAM): takes [base, base + size), released with munmap like Allocate's.
  void Adopt(uint8_t* base, uint64_t size);

  // Exchanges the RAM of two objects (exec puts a new image's RAM in place).
  void Swap(GuestMemory& other) {
    std::swap(base_, other.base_);
    std::swap(size_, other.size_);
  }

  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }
  std::span<uint8_t> span() const { return {base_, static_cast<size_t>(size_)}; }

  // Host address of [gpa, gpa + len) for the monitor's own use, or nullptr if outside RAM.
  uint8_t* At(uint64_t gpa, uint64_t len) const {
    return RangeInRam(size_, gpa, len) ? base_ + gpa : nullptr;
  }

  // For backends: maps [offset, offset + length) of file `fd` privately at gpa (page aligned, inside
  // RAM), replacing what is there: the caller put identical bytes there already, so if
  // this fails nothing is lost (false, RAM as it was).
  bool MapFile(uint64_t gpa, int fd, uint64_t offset, uint64_t length) const;

  // Host address of a buffer the guest passed to a hypercall, or nullptr if any byte of
  // it is outside RAM or in page 0 (which the guest cannot map either): the hypercall
  // then fails with -PVM_EFAULT. A zero-length buffer is accepted anywhere in RAM.
  uint8_t* GuestBuffer(uint64_t gpa, uint64_t len) const;

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace pvm::monitor
