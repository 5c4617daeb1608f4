#include "common/channel_fds.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>

#include "pvm/abi.h"

namespace pvm {

int CreateChannelFds(ChannelFds* out, RegionPages kind) {
  *out = ChannelFds{};
  int rc = CreateRegionFd(kind, PVM_CHANNEL_SIZE, &out->memfd);
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
