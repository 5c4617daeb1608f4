#include "common/id_counter.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "common/control.h"

namespace pvm {

IdCounter::~IdCounter() { Close(); }

void IdCounter::Close() {
  if (value_) munmap(value_, ctl::kIdCounterSize);
  if (fd_ >= 0) close(fd_);
  value_ = nullptr;
  fd_ = -1;
}

int IdCounter::Create() {
  int fd = memfd_create("pvm-ids", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  if (ftruncate(fd, ctl::kIdCounterSize) != 0) {
    int saved = -errno;
    close(fd);
    return saved;
  }
  // Its size never changes: a monitor cannot make the host's mapping fault by shrinking it.
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  int rc = Map(fd);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  fd_ = fd;
  return 0;
}

int IdCounter::Map(int fd) {
  void* p = mmap(nullptr, ctl::kIdCounterSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -errno;
  value_ = static_cast<uint64_t*>(p);
  return 0;
}

uint64_t IdCounter::Next() { return value_ ? __atomic_add_fetch(value_, 1, __ATOMIC_RELAXED) : 0; }

}  // namespace pvm
