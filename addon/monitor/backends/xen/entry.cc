#include "monitor/backends/xen/entry.h"

#include <sys/syscall.h>

#include "monitor/backends/xen/xen_backend.h"

namespace pvm::monitor {

namespace {

// Hypercalls and event channels are ioctls on privcmd / evtchn fds (mmap, read and write
// on them are the core's already).
constexpr int kXenSyscalls[] = {SYS_ioctl};

std::unique_ptr<Backend> CreateXen() { return std::make_unique<XenBackend>(); }

}  // namespace

BackendEntry XenBackendEntry() { return BackendEntry{"xen", CreateXen, kXenSyscalls}; }

}  // namespace pvm::monitor
