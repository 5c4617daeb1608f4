#include "monitor/backends/process/probe.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "pvm/abi.h"

namespace pvm::process {

BackendProbe Probe() {
#if !defined(__x86_64__) || !defined(__linux__)
  return ProbeFailure("the process backend runs x86-64 images natively: it needs x86-64 Linux", 0);
#else
  // Seccomp filters: the monitor confines itself and its guest with one.
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) return ProbeFailure("seccomp is not available", EINVAL);
  // The guest's addresses, [64 KiB, guest limit), reserved by each monitor (a process
  // of its own: not here, where Node's mappings may lie anywhere). What can stop it:
  // vm.mmap_min_addr above 64 KiB, or an address-space limit below the reservation.
  const uint64_t lo = 64 * 1024;
  const uint64_t hi = PVM_CHANNEL_WINDOW_GPA + uint64_t{PVM_CHANNEL_SLOTS} * PVM_CHANNEL_SLOT_SIZE;
  if (FILE* f = fopen("/proc/sys/vm/mmap_min_addr", "re")) {
    unsigned long long min_addr = 0;
    int n = fscanf(f, "%llu", &min_addr);
    fclose(f);
    if (n == 1 && min_addr > lo) {
      return ProbeFailure("vm.mmap_min_addr is " + std::to_string(min_addr) + ": guest RAM starts at 65536", EPERM);
    }
  }
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur < hi + (1ull << 30)) {
    return ProbeFailure("the address-space limit (ulimit -v) is below the guest's " + std::to_string(hi >> 20) + " MiB", ENOMEM);
  }
  BackendProbe p;
  p.ok = true;
  p.numbers.emplace_back("guestLimit", static_cast<int64_t>(hi));
  return p;
#endif
}

}  // namespace pvm::process
