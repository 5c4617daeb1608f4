#include "common/channel_fds.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>

#include "pvm/abi.h"

namespace pvm {

int CreateChannelFds(ChannelFds* out) {
  *out = ChannelFds{};
  out->memfd = memfd_create("pvm-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (out->memfd < 0) return -errno;
  int rc = 0;
  if (ftruncate(out->memfd, PVM_CHANNEL_SIZE) != 0) rc = -errno;
  // Neither end may resize it under the other's mapping.
  if (rc == 0 && fcntl(out->memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) rc = -errno;
  if (rc == 0) {
    out->doorbell_a = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    out->doorbell_b = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (out->doorbell_a < 0 || out->doorbell_b < 0) rc = -errno;
  }
  if (rc != 0) CloseChannelFds(out);
  return rc;
}

void CloseChannelFds(ChannelFds* fds) {
  for (int* fd : {&fds->memfd, &fds->doorbell_a, &fds->doorbell_b}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

}  // namespace pvm
