// The process backend's dirty log (backend.h DirtyLog), for reset: userfaultfd's
// asynchronous write-protect over guest RAM, read back with PAGEMAP_SCAN (Linux 6.7+).
// Every page is write-protected once; the first write to one is resolved by the kernel
// itself (no fault reaches the monitor) and leaves the page "written"; Take returns
// the written pages and write-protects them again in the same call. Soft-dirty bits
// would be simpler but are not set on every kernel (not on the one this was built on).
//
// Registration is per address space and not inherited by fork(2): a forked monitor
// holds its parent's userfaultfd and pagemap fds, which name the parent's memory; the
// log drops them unused (never an ioctl on them) and starts its own. The monitor's own
// writes to guest RAM are logged too (logs_monitor_writes).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "monitor/backend.h"
#include "monitor/seccomp.h"

namespace pvm::monitor::process {

class ProcessDirtyLog final : public DirtyLog {
 public:
  ProcessDirtyLog() = default;
  ~ProcessDirtyLog() override;
  ProcessDirtyLog(const ProcessDirtyLog&) = delete;
  ProcessDirtyLog& operator=(const ProcessDirtyLog&) = delete;

  // Once per monitor, before it is confined (Backend::Prepare): whether this kernel has
  // asynchronous write-protect, PAGEMAP_SCAN and mseal. It also makes the page holding
  // the path "/proc/self/pagemap", sealed read-only, that confinement lets openat name
  // (seccomp filters compare pointers, not strings: the sealed page keeps the pointer's
  // string what it is). false: no dirty log here.
  bool Probe();
  bool available() const { return available_; }
  // Guest RAM is [lo, hi) from now on (boot, exec). Logging stops: new RAM (exec's) is
  // not logged until SetLogging(true); reset, its only user, ends at an exec anyway.
  void SetRange(uint64_t lo, uint64_t hi);

  bool SetLogging(bool on, Failure* why) override;
  bool Take(std::vector<uint64_t>* pages, Failure* why) override { return Scan(true, pages, why); }
  bool Peek(std::vector<uint64_t>* pages, Failure* why) override { return Scan(false, pages, why); }
  bool logs_monitor_writes() const override { return true; }
  // Walks only the stretches of RAM around the pages in `written` (a walk costs per page
  // table entry: ~3 ns each, ~25 us over 32 MiB; an ioctl ~1 us).
  bool Restart(const std::vector<uint64_t>& written, Failure* why) override;

  // What a confined monitor needs for it: userfaultfd with its one set of flags, the
  // ioctls of the userfaultfd and PAGEMAP_SCAN, openat of the sealed path.
  void AddSeccompRules(std::vector<SeccompArgRule>* rules) const;

 private:
  // True if this process opened the fds; a fork(2) child drops its parent's first.
  bool Mine();
  bool Start(Failure* why);
  // The written pages; protect: write-protected again in the same walk (Take).
  bool Scan(bool protect, std::vector<uint64_t>* pages, Failure* why) { return ScanRange(protect, lo_, hi_, pages, why); }
  bool ScanRange(bool protect, uint64_t lo, uint64_t hi, std::vector<uint64_t>* pages, Failure* why);
  void Stop();

  bool available_ = false;
  const char* pagemap_path_ = nullptr;  // in the sealed page
  pid_t owner_ = 0;
  int uffd_ = -1;
  int pagemap_ = -1;
  bool on_ = false;
  uint64_t lo_ = 0;
  uint64_t hi_ = 0;
};

}  // namespace pvm::monitor::process
