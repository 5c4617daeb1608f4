#include "monitor/backends/xen/entry.h"

#include <sys/syscall.h>

#include "monitor/backends/xen/xen_backend.h"

namespace pvm::monitor {

namespace {

// Hypercalls and event channels are ioctls on privcmd / evtchn fds (mmap, read and write
// on them are the core's already). A forked monitor (copy_fork.h) opens Xen handles of
// its own, as libxenctrl's are not to be used across fork(2), and starts its watchdog:
// openat (/dev/xen/*, /proc/self/stat for its owner tag, /dev/null), setsid (its
// socket pair is the core's socketpair). Channel and region pages are opened from
// /dev/xen/gntalloc (openat, ioctl).
// Opening files takes nothing from confinement here: a monitor that can issue dom0
// hypercalls through privcmd can map any domain's memory already.
constexpr int kXenSyscalls[] = {SYS_ioctl, SYS_openat, SYS_setsid};

std::unique_ptr<Backend> CreateXen() { return std::make_unique<XenBackend>(); }

}  // namespace

BackendEntry XenBackendEntry() { return BackendEntry{"xen", CreateXen, kXenSyscalls}; }

}  // namespace pvm::monitor
