#include "monitor/backends/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace pvm::monitor {

namespace {

constexpr int kKvmApiVersion = 12;
// Enough for every CPUID leaf KVM reports today; grown on E2BIG.
constexpr uint32_t kInitialCpuidEntries = 128;
constexpr uint32_t kMaxCpuidEntries = 4096;

}  // namespace

void CpuidTable::Resize(uint32_t entries) {
  size_t bytes = sizeof(kvm_cpuid2) + entries * sizeof(kvm_cpuid_entry2);
  buf_.assign((bytes + sizeof(uint64_t) - 1) / sizeof(uint64_t), 0);
  get()->nent = entries;
}

Kvm::~Kvm() {
  if (fd_ >= 0) close(fd_);
}

bool Kvm::Open(Failure* why) {
  fd_ = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd_ < 0) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "cannot open /dev/kvm");
  int version = ioctl(fd_, KVM_GET_API_VERSION, 0);
  if (version != kKvmApiVersion) {
    return Fail(why, ctl::ErrorCode::BackendUnavailable, version < 0 ? errno : 0,
                "/dev/kvm API version %d, need %d", version, kKvmApiVersion);
  }
  return true;
}

int Kvm::Capability(long cap) const {
  int r = ioctl(fd_, KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

bool Kvm::VcpuMmapSize(size_t* size, Failure* why) const {
  int r = ioctl(fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (r < 0) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "KVM_GET_VCPU_MMAP_SIZE");
  if (static_cast<size_t>(r) < sizeof(kvm_run)) {
    return Fail(why, ctl::ErrorCode::BackendUnavailable, 0, "kvm_run area of %d bytes is too small", r);
  }
  *size = static_cast<size_t>(r);
  return true;
}

bool Kvm::SupportedCpuid(CpuidTable* out, Failure* why) const {
  for (uint32_t n = kInitialCpuidEntries; n <= kMaxCpuidEntries; n *= 2) {
    out->Resize(n);
    if (ioctl(fd_, KVM_GET_SUPPORTED_CPUID, out->get()) == 0) return true;
    if (errno != E2BIG) break;
  }
  return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "KVM_GET_SUPPORTED_CPUID");
}

KvmVm::~KvmVm() {
  if (fd_ >= 0) close(fd_);
}

bool KvmVm::Create(const Kvm& kvm, Failure* why) {
  for (;;) {
    fd_ = ioctl(kvm.fd(), KVM_CREATE_VM, 0);
    if (fd_ >= 0) return true;
    // KVM_CREATE_VM can fail with EINTR when a signal arrives during it.
    if (errno != EINTR) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "KVM_CREATE_VM");
  }
}

bool KvmVm::MapMemory(const GuestMemory& ram, Failure* why, bool log_dirty) {
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0;
  region.guest_phys_addr = 0;
  region.memory_size = ram.size();
  region.userspace_addr = reinterpret_cast<uint64_t>(ram.base());
  if (ioctl(fd_, KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_USER_MEMORY_REGION");
  }
  return true;
}

bool KvmVm::TakeDirtyLog(uint64_t ram_size, std::vector<uint64_t>* pages, Failure* why) {
  uint64_t npages = ram_size / 4096;
  std::vector<uint64_t> bitmap((npages + 63) / 64);
  kvm_dirty_log log{};
  log.slot = 0;
  log.dirty_bitmap = bitmap.data();
  if (ioctl(fd_, KVM_GET_DIRTY_LOG, &log) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_DIRTY_LOG");
  for (uint64_t w = 0; w < bitmap.size(); w++) {
    for (uint64_t bits = bitmap[w]; bits != 0; bits &= bits - 1) pages->push_back(w * 64 + __builtin_ctzll(bits));
  }
  return true;
}

bool KvmVm::UnmapMemory(Failure* why) {
  kvm_userspace_memory_region region{};
  region.slot = 0;
  if (ioctl(fd_, KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_USER_MEMORY_REGION (delete RAM)");
  }
  return true;
}

bool KvmVm::SetRegion(uint32_t slot, const KvmRegion& r, Failure* why) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.guest_phys_addr = r.gpa;
  region.memory_size = r.size;
  region.userspace_addr = reinterpret_cast<uint64_t>(r.host);
  if (ioctl(fd_, KVM_SET_USER_MEMORY_REGION, &region) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_USER_MEMORY_REGION (channel)");
  }
  return true;
}

}  // namespace pvm::monitor
