#include "common/region_memory.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "pvm/abi.h"

#if __has_include(<xen/gntalloc.h>)
#include <xen/gntalloc.h>
#define PVM_HAVE_GNTALLOC 1
#endif

namespace pvm {

namespace {

static_assert(sizeof(GrantedHeader) <= PVM_PAGE_SIZE);

bool IsGranted(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode);
}

int CreateMemfd(uint64_t size, int* fd) {
  int memfd = memfd_create("pvm-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (memfd < 0) return -errno;
  // Sealed: no holder may resize it under another's mapping (SIGBUS).
  if (ftruncate(memfd, static_cast<off_t>(size)) != 0 ||
      fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    int err = -errno;
    close(memfd);
    return err;
  }
  *fd = memfd;
  return 0;
}

int CreateGranted(uint64_t size, int* out) {
#ifdef PVM_HAVE_GNTALLOC
  uint32_t pages = static_cast<uint32_t>(size / PVM_PAGE_SIZE);
  if (pages == 0 || pages > GrantedHeader::kMaxPages) return -EINVAL;
  int fd = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  // Header + data in one allocation, so its mmap offsets are 0 and PVM_PAGE_SIZE in every
  // holder. The grants are to dom0 itself: no domain maps them as grants; they are how
  // the xen backend learns the pages' machine frames.
  size_t bytes = sizeof(ioctl_gntalloc_alloc_gref) + (pages + 1) * sizeof(uint32_t);
  auto* op = static_cast<ioctl_gntalloc_alloc_gref*>(calloc(1, bytes));
  if (!op) {
    close(fd);
    return -ENOMEM;
  }
  op->domid = 0;
  op->flags = GNTALLOC_FLAG_WRITABLE;
  op->count = pages + 1;
  int rc = ioctl(fd, IOCTL_GNTALLOC_ALLOC_GREF, op) == 0 ? 0 : -errno;
  // gntalloc has a module-wide limit on grants (its `limit` parameter): ENOSPC there.
  if (rc == 0 && op->index != 0) rc = -EINVAL;
  void* head = rc == 0 ? mmap(nullptr, PVM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (rc == 0 && head == MAP_FAILED) rc = -errno;
  if (rc == 0) {
    auto* h = static_cast<GrantedHeader*>(head);
    std::memcpy(h->grefs, op->gref_ids + 1, pages * sizeof(uint32_t));
    h->pages = pages;
    __atomic_store_n(&h->magic, GrantedHeader::kMagic, __ATOMIC_RELEASE);
    munmap(head, PVM_PAGE_SIZE);
  }
  free(op);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
#else
  (void)size;
  (void)out;
  return -ENOSYS;
#endif
}

// The header, mapped read-only; nullptr if it is not one.
const GrantedHeader* MapHeader(int fd) {
  void* head = mmap(nullptr, PVM_PAGE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
  if (head == MAP_FAILED) return nullptr;
  auto* h = static_cast<const GrantedHeader*>(head);
  if (h->magic != GrantedHeader::kMagic || h->pages == 0 || h->pages > GrantedHeader::kMaxPages) {
    munmap(head, PVM_PAGE_SIZE);
    return nullptr;
  }
  return h;
}

}  // namespace

int CreateRegionFd(RegionPages kind, uint64_t size, int* fd) {
  *fd = -1;
  if (size == 0 || size % PVM_PAGE_SIZE != 0) return -EINVAL;
  return kind == RegionPages::Granted ? CreateGranted(size, fd) : CreateMemfd(size, fd);
}

int RegionFdSize(int fd, uint64_t* size) {
  if (IsGranted(fd)) {
    const GrantedHeader* h = MapHeader(fd);
    if (!h) return -EINVAL;
    *size = static_cast<uint64_t>(h->pages) * PVM_PAGE_SIZE;
    munmap(const_cast<GrantedHeader*>(h), PVM_PAGE_SIZE);
    return 0;
  }
  struct stat st;
  // Sealed against shrinking, as every region pvm makes is: a peer cannot truncate it
  // under this process's mapping (SIGBUS).
  int seals = fcntl(fd, F_GET_SEALS);
  if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size % PVM_PAGE_SIZE != 0 || seals < 0 ||
      !(seals & F_SEAL_SHRINK)) {
    return -EINVAL;
  }
  *size = static_cast<uint64_t>(st.st_size);
  return 0;
}

uint8_t* MapRegionFd(int fd, uint64_t size) {
  off_t offset = IsGranted(fd) ? PVM_PAGE_SIZE : 0;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  return mem == MAP_FAILED ? nullptr : static_cast<uint8_t*>(mem);
}

int RegionFdGrefs(int fd, uint32_t* grefs, uint32_t max) {
  if (!IsGranted(fd)) return -EINVAL;
  const GrantedHeader* h = MapHeader(fd);
  if (!h) return -EINVAL;
  int n = static_cast<int>(h->pages);
  if (h->pages > max) n = -E2BIG;
  else std::memcpy(grefs, h->grefs, h->pages * sizeof(uint32_t));
  munmap(const_cast<GrantedHeader*>(h), PVM_PAGE_SIZE);
  return n;
}

}  // namespace pvm
