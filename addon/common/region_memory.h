// What the pages of a channel or shared-memory region are made of, for every process
// that holds one (the host binding, monitors). Two kinds, chosen by the backend:
// - Memfd (kvm, process): a sealed memfd; its pages are mapped from offset 0.
// - Granted (xen): dom0 pages from /dev/xen/gntalloc, one allocation per fd: page 0 is a
//   header only dom0 processes see (GrantedHeader: the grant refs of the data pages), the
//   data pages follow at offset PVM_PAGE_SIZE. A Xen domain cannot map a dom0 memfd page;
//   the xen backend finds these pages' machine frames from their grant refs and maps the
//   frames into the guest (backends/xen/xen_region.h). gntalloc pages are never moved or
//   swapped, and are freed only when the fd and every mmap of it are gone.
// An fd of either kind is passed around like the memfd always was (SCM_RIGHTS, fork);
// RegionFdSize and MapRegionFd tell the kinds apart by fstat.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pvm {

enum class RegionPages { Memfd, Granted };

// The header page of a Granted fd.
struct GrantedHeader {
  static constexpr uint32_t kMagic = 0x70766d67;  // "pvmg"
  static constexpr uint32_t kMaxPages = 1000;     // fits the page; a slot is 512 pages
  uint32_t magic;
  uint32_t pages;  // data pages
  uint32_t grefs[kMaxPages];
};

// A new region of `size` bytes (a multiple of the page size), zeroed. 0 or -errno.
int CreateRegionFd(RegionPages kind, uint64_t size, int* fd);
// The size of an fd's data pages, checked: a sealed memfd of whole pages, or a Granted fd
// with a valid header. 0 or -errno (EINVAL: neither).
int RegionFdSize(int fd, uint64_t* size);
// Maps `size` bytes of the data pages shared, read-write; nullptr (errno set) on failure.
uint8_t* MapRegionFd(int fd, uint64_t size);
// A Granted fd's grant refs, one per data page (`max` at most). The count, or -errno.
int RegionFdGrefs(int fd, uint32_t* grefs, uint32_t max);

}  // namespace pvm
