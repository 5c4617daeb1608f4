#include "monitor/backends/process/dirty_log.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "monitor/backends/process/uffd_uapi.h"
#include "pvm/abi.h"

namespace pvm::monitor::process {

namespace {

constexpr char kPagemap[] = "/proc/self/pagemap";
constexpr long kUffdFlags = O_CLOEXEC | uapi::kUffdUserModeOnly;
constexpr uint64_t kFeatures = uapi::kFeatureWpAsync | uapi::kFeatureWpUnpopulated;
constexpr uint64_t kPage = PVM_PAGE_SIZE;

int NewUffd() {
  int fd = static_cast<int>(syscall(SYS_userfaultfd, kUffdFlags));
  if (fd < 0) return -1;
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = kFeatures;
  if (ioctl(fd, UFFDIO_API, &api) != 0 || (api.features & kFeatures) != kFeatures) {
    int err = errno;
    close(fd);
    errno = err ? err : ENOTSUP;
    return -1;
  }
  return fd;
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

ProcessDirtyLog::~ProcessDirtyLog() { Stop(); }

bool ProcessDirtyLog::Probe() {
  if (pagemap_path_) return available_;  // once per process: forks inherit the page
  void* page = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return false;
  std::memcpy(page, kPagemap, sizeof kPagemap);
  if (mprotect(page, kPage, PROT_READ) != 0 || syscall(uapi::kSysMseal, page, kPage, 0L) != 0) {
    munmap(page, kPage);
    return false;  // no mseal (Linux < 6.10): openat of a pointer would not pin the path
  }
  pagemap_path_ = static_cast<const char*>(page);
  int uffd = NewUffd();
  if (uffd < 0) return false;  // no userfaultfd, or no asynchronous write-protect (< 6.7)
  close(uffd);
  int pagemap = static_cast<int>(syscall(SYS_openat, static_cast<long>(AT_FDCWD), pagemap_path_, static_cast<long>(O_RDONLY | O_CLOEXEC)));
  if (pagemap < 0) return false;
  // PAGEMAP_SCAN over the path's own page, only asking: ENOTTY where it does not exist.
  uapi::PageRegion region{};
  uapi::PmScanArg scan{};
  scan.size = sizeof scan;
  scan.start = reinterpret_cast<uint64_t>(page);
  scan.end = scan.start + kPage;
  scan.vec = reinterpret_cast<uint64_t>(&region);
  scan.vec_len = 1;
  scan.category_anyof_mask = uapi::kPageIsPresent;
  scan.return_mask = uapi::kPageIsPresent;
  available_ = ioctl(pagemap, uapi::kPagemapScan, &scan) >= 0;
  close(pagemap);
  return available_;
}

void ProcessDirtyLog::AddSeccompRules(std::vector<SeccompArgRule>* rules) const {
  if (!available_) return;
  rules->push_back({SYS_userfaultfd, 0, static_cast<uint64_t>(kUffdFlags)});
  for (unsigned long cmd : {static_cast<unsigned long>(UFFDIO_API), static_cast<unsigned long>(UFFDIO_REGISTER),
                            static_cast<unsigned long>(UFFDIO_UNREGISTER), static_cast<unsigned long>(UFFDIO_WRITEPROTECT),
                            uapi::kPagemapScan}) {
    rules->push_back({SYS_ioctl, 1, cmd});
  }
  rules->push_back({SYS_openat, 1, reinterpret_cast<uint64_t>(pagemap_path_)});
}

bool ProcessDirtyLog::Mine() {
  if (uffd_ < 0 && pagemap_ < 0) return true;
  if (owner_ == getpid()) return true;
  // A fork(2) child: the fds are the parent's and name its memory. Never used here.
  CloseFd(&uffd_);
  CloseFd(&pagemap_);
  on_ = false;
  return false;
}

void ProcessDirtyLog::Stop() {
  if (Mine() && uffd_ >= 0) {
    // Explicitly: a child that has not dropped its copy of the fd yet keeps the file,
    // and with it the registration, alive past our close.
    uffdio_range range{lo_, hi_ - lo_};
    ioctl(uffd_, UFFDIO_UNREGISTER, &range);
  }
  CloseFd(&uffd_);
  CloseFd(&pagemap_);
  on_ = false;
}

bool ProcessDirtyLog::Start(Failure* why) {
  owner_ = getpid();
  uffd_ = NewUffd();
  if (uffd_ < 0) return FailErrno(why, ctl::ErrorCode::Internal, "userfaultfd (asynchronous write-protect)");
  uffdio_register reg{};
  reg.range = uffdio_range{lo_, hi_ - lo_};
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) {
    Failure f;
    FailErrno(&f, ctl::ErrorCode::Internal, "UFFDIO_REGISTER of guest RAM");
    Stop();
    *why = f;
    return false;
  }
  // Every page write-protected (unpopulated ones too): from here a write marks it.
  uffdio_writeprotect wp{};
  wp.range = reg.range;
  wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
  if (ioctl(uffd_, UFFDIO_WRITEPROTECT, &wp) != 0) {
    Failure f;
    FailErrno(&f, ctl::ErrorCode::Internal, "UFFDIO_WRITEPROTECT of guest RAM");
    Stop();
    *why = f;
    return false;
  }
  pagemap_ = static_cast<int>(syscall(SYS_openat, static_cast<long>(AT_FDCWD), pagemap_path_, static_cast<long>(O_RDONLY | O_CLOEXEC)));
  if (pagemap_ < 0) {
    Failure f;
    FailErrno(&f, ctl::ErrorCode::Internal, kPagemap);
    Stop();
    *why = f;
    return false;
  }
  on_ = true;
  return true;
}

void ProcessDirtyLog::SetRange(uint64_t lo, uint64_t hi) {
  Mine();
  Stop();  // the old RAM's registration goes with it (exec: the fork point is gone too)
  lo_ = lo;
  hi_ = hi;
}

bool ProcessDirtyLog::SetLogging(bool on, Failure* why) {
  Mine();
  if (on == on_) return true;
  if (!on) {
    Stop();
    return true;
  }
  if (!available_) return Fail(why, ctl::ErrorCode::Internal, 0, "no dirty log on this kernel (Linux 6.10+ needed)");
  if (hi_ <= lo_) return Fail(why, ctl::ErrorCode::Internal, 0, "no guest RAM to log");
  return Start(why);
}

bool ProcessDirtyLog::ScanRange(bool protect, uint64_t lo, uint64_t hi, std::vector<uint64_t>* pages, Failure* why) {
  Mine();
  if (!on_) return Fail(why, ctl::ErrorCode::Internal, 0, "the dirty log is off");
  // Written pages come back as ranges. A full vector stops the walk at walk_end; the
  // next call goes on from there.
  constexpr uint64_t kRegions = 256;
  uapi::PageRegion regions[kRegions];
  uapi::PmScanArg scan{};
  scan.size = sizeof scan;
  scan.flags = (protect ? uapi::kPmScanWpMatching : 0) | uapi::kPmScanCheckWpAsync;
  scan.start = lo;
  scan.end = hi;
  scan.vec = reinterpret_cast<uint64_t>(regions);
  scan.vec_len = kRegions;
  scan.category_mask = uapi::kPageIsWritten;
  scan.return_mask = uapi::kPageIsWritten;
  for (;;) {
    long n = ioctl(pagemap_, uapi::kPagemapScan, &scan);
    if (n < 0) return FailErrno(why, ctl::ErrorCode::Internal, "PAGEMAP_SCAN of guest RAM");
    for (long i = 0; i < n; i++) {
      for (uint64_t page = regions[i].start / kPage; page < regions[i].end / kPage; page++) pages->push_back(page);
    }
    if (scan.walk_end >= hi) return true;
    if (scan.walk_end <= scan.start) return Fail(why, ctl::ErrorCode::Internal, 0, "PAGEMAP_SCAN of guest RAM stopped");
    scan.start = scan.walk_end;
  }
}

bool ProcessDirtyLog::Restart(const std::vector<uint64_t>& written, Failure* why) {
  // Stretches of written pages less than kGap pages apart are walked as one: walking
  // the entries between costs less than another ioctl.
  constexpr uint64_t kGap = 128;
  std::vector<uint64_t> dropped;
  uint64_t start = 0, end = 0;  // the stretch so far, in pages; empty when equal
  auto flush = [&]() {
    if (start == end) return true;
    uint64_t lo = std::max(start * kPage, lo_), hi = std::min(end * kPage, hi_);
    dropped.clear();
    return lo >= hi || ScanRange(true, lo, hi, &dropped, why);
  };
  for (uint64_t w = 0; w < written.size(); w++) {
    for (uint64_t bits = written[w]; bits != 0; bits &= bits - 1) {
      uint64_t page = w * 64 + static_cast<uint64_t>(__builtin_ctzll(bits));
      if (start != end && page < end + kGap) {
        end = page + 1;
        continue;
      }
      if (!flush()) return false;
      start = page;
      end = page + 1;
    }
  }
  return flush();
}

}  // namespace pvm::monitor::process
