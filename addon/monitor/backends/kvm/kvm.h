// /dev/kvm and one KVM VM: the system fd (API check, capabilities, supported CPUID) and
// the VM fd (memslots). Plain ioctls; each object owns its fd.
#pragma once

#include "monitor/backends/kvm/kvm_uapi.h"

#include <cstdint>
#include <vector>

#include "monitor/failure.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor {

// The CPUID table handed to KVM_SET_CPUID2 (kvm_cpuid2 has a flexible array member).
class CpuidTable {
 public:
  kvm_cpuid2* get() { return reinterpret_cast<kvm_cpuid2*>(buf_.data()); }
  void Resize(uint32_t entries);

 private:
  std::vector<uint64_t> buf_;  // uint64_t: keeps the struct suitably aligned
};

class Kvm {
 public:
  Kvm() = default;
  ~Kvm();
  Kvm(const Kvm&) = delete;
  Kvm& operator=(const Kvm&) = delete;

  // Opens /dev/kvm and checks the API version. BackendUnavailable on failure.
  bool Open(Failure* why);
  int fd() const { return fd_; }
  // KVM_CHECK_EXTENSION on the system fd: > 0 when the capability is there.
  int Capability(long cap) const;
  // Size of the kvm_run area each vCPU fd maps.
  bool VcpuMmapSize(size_t* size, Failure* why) const;
  // KVM_GET_SUPPORTED_CPUID, grown until it fits.
  bool SupportedCpuid(CpuidTable* out, Failure* why) const;

 private:
  int fd_ = -1;
};

// A memslot besides RAM's (slot 0).
struct KvmRegion {
  uint64_t gpa = 0;
  uint8_t* host = nullptr;
  uint64_t size = 0;
};

class KvmVm {
 public:
  KvmVm() = default;
  ~KvmVm();
  KvmVm(const KvmVm&) = delete;
  KvmVm& operator=(const KvmVm&) = delete;

  bool Create(const Kvm& kvm, Failure* why);
  // Memslot 0: all of guest RAM at guest-physical 0 (again: it replaces the old one).
  bool MapMemory(const GuestMemory& ram, Failure* why, bool log_dirty = false);
  // KVM_GET_DIRTY_LOG of memslot 0: the 4 KiB pages written since the last call (the
  // log restarts), appended to *pages as page numbers.
  bool TakeDirtyLog(uint64_t ram_size, std::vector<uint64_t>* pages, Failure* why);
  // Deletes memslot 0 (before RAM is replaced).
  bool UnmapMemory(Failure* why);
  // Memslot `slot` (>= 1): size bytes at gpa, backed by host; size 0 deletes it.
  bool SetRegion(uint32_t slot, const KvmRegion& region, Failure* why);
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace pvm::monitor
