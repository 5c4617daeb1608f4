#include "monitor/backends/kvm/entry.h"

#include <sys/syscall.h>

#include "monitor/backends/kvm/kvm_backend.h"

namespace pvm::monitor {

namespace {

// Everything KVM is done through ioctls on /dev/kvm, the VM and the vCPU fds.
constexpr int kKvmSyscalls[] = {SYS_ioctl};

std::unique_ptr<Backend> CreateKvm() { return std::make_unique<KvmBackend>(); }

}  // namespace

BackendEntry KvmBackendEntry() { return BackendEntry{"kvm", CreateKvm, kKvmSyscalls}; }

}  // namespace pvm::monitor
