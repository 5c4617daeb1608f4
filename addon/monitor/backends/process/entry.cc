#include "monitor/backends/process/entry.h"

#include <sys/syscall.h>

#include "monitor/backends/process/process_backend.h"

namespace pvm::monitor {

namespace {

// Beyond the core's list (seccomp.cc): the kick handler re-queues a kick it took for
// the monitor (rt_tgsigqueueinfo) and Enter looks for pending ones (rt_sigpending).
// ioctl only with the dirty log's commands (ProcessBackend::seccomp_arg_rules: there is
// no device). The guest itself gets none (Backend::guest_code_limit).
constexpr int kProcessSyscalls[] = {SYS_rt_sigpending, SYS_rt_tgsigqueueinfo};

std::unique_ptr<Backend> CreateProcess() { return std::make_unique<ProcessBackend>(); }

}  // namespace

BackendEntry ProcessBackendEntry() { return BackendEntry{"process", CreateProcess, kProcessSyscalls}; }

}  // namespace pvm::monitor
