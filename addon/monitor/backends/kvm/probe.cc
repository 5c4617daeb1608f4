#include "monitor/backends/kvm/probe.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "monitor/backends/kvm/kvm_pvm_msr.h"
#include "monitor/backends/kvm/kvm_uapi.h"  // <linux/kvm.h> with C's layouts (KVM_GET_MSRS' size)

namespace pvm::kvm {

namespace {

constexpr int kApiVersion = 12;  // what the monitor's backend needs (KVM_API_VERSION)
using monitor::kKvmPvmVifMsr;

// Closes an fd at scope exit.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

BackendProbe Probe() {
  const char* override_path = getenv("PVM_KVM_DEVICE");
  std::string path = override_path && *override_path ? override_path : "/dev/kvm";
  Fd kvm{open(path.c_str(), O_RDWR | O_CLOEXEC)};
  if (kvm.fd < 0) return ProbeFailure(path, errno);
  int version = ioctl(kvm.fd, KVM_GET_API_VERSION, 0);
  if (version != kApiVersion) {
    return ProbeFailure(path + ": KVM API version " + std::to_string(version) + ", need " + std::to_string(kApiVersion),
                version < 0 ? errno : 0);
  }
  Fd vm{-1};
  do vm.fd = ioctl(kvm.fd, KVM_CREATE_VM, 0);
  while (vm.fd < 0 && errno == EINTR);  // a signal can interrupt it
  if (vm.fd < 0) return ProbeFailure(path + ": KVM_CREATE_VM", errno);
  Fd vcpu{ioctl(vm.fd, KVM_CREATE_VCPU, 0)};
  if (vcpu.fd < 0) return ProbeFailure(path + ": KVM_CREATE_VCPU", errno);
  // kvm_msrs ends in a flexible array: room for one entry after it.
  alignas(kvm_msrs) unsigned char buf[sizeof(kvm_msrs) + sizeof(kvm_msr_entry)] = {};
  auto* msrs = reinterpret_cast<kvm_msrs*>(buf);
  msrs->nmsrs = 1;
  msrs->entries[0].index = kKvmPvmVifMsr;
  bool kvm_pvm = ioctl(vcpu.fd, KVM_GET_MSRS, msrs) == 1;

  BackendProbe p;
  p.ok = true;
  p.strings.emplace_back("flavour", kvm_pvm ? "kvm_pvm" : "hardware");
  p.numbers.emplace_back("apiVersion", version);
  return p;
}

}  // namespace pvm::kvm
