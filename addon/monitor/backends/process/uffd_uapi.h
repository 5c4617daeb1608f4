// <linux/userfaultfd.h> and <linux/fs.h> plus what the dirty log (dirty_log.h) needs of
// Linux 6.7+ that older UAPI headers (Debian 12 ships 6.1) lack: asynchronous
// write-protect, PAGEMAP_SCAN, mseal. Values as in the kernel's headers; include this,
// never those two directly.
#pragma once

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

#include <cstdint>

namespace pvm::monitor::process::uapi {

// userfaultfd(2): only faults from user mode (no privilege needed).
constexpr int kUffdUserModeOnly = 1;  // UFFD_USER_MODE_ONLY
// UFFDIO_API features (6.4 / 6.7).
constexpr uint64_t kFeatureWpUnpopulated = 1ull << 13;  // UFFD_FEATURE_WP_UNPOPULATED
constexpr uint64_t kFeatureWpAsync = 1ull << 15;        // UFFD_FEATURE_WP_ASYNC

// PAGEMAP_SCAN on /proc/<pid>/pagemap (6.7).
struct PageRegion {  // struct page_region
  uint64_t start;
  uint64_t end;
  uint64_t categories;
};
struct PmScanArg {  // struct pm_scan_arg
  uint64_t size;
  uint64_t flags;
  uint64_t start;
  uint64_t end;
  uint64_t walk_end;
  uint64_t vec;
  uint64_t vec_len;
  uint64_t max_pages;
  uint64_t category_inverted;
  uint64_t category_mask;
  uint64_t category_anyof_mask;
  uint64_t return_mask;
};
static_assert(sizeof(PmScanArg) == 96, "struct pm_scan_arg");
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PmScanArg);  // PAGEMAP_SCAN
constexpr uint64_t kPmScanWpMatching = 1ull << 0;    // PM_SCAN_WP_MATCHING
constexpr uint64_t kPmScanCheckWpAsync = 1ull << 1;  // PM_SCAN_CHECK_WPASYNC
constexpr uint64_t kPageIsWritten = 1ull << 1;       // PAGE_IS_WRITTEN
constexpr uint64_t kPageIsPresent = 1ull << 3;       // PAGE_IS_PRESENT

// mseal(2) (6.10), x86-64.
constexpr long kSysMseal = 462;

}  // namespace pvm::monitor::process::uapi
