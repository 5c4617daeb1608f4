// The kernel objects of one channel (layout: hypercalls/abi.json "channel"): its pages
// (region_memory.h: a sealed memfd, or granted dom0 pages on xen; `memfd` either way) of
// PVM_CHANNEL_SIZE bytes and an eventfd doorbell per side. Made by a monitor
// (fork) or by the host (channels it hands out), so both make them the same way.
#pragma once

#include "common/region_memory.h"

namespace pvm {

struct ChannelFds {
  int memfd = -1;
  int doorbell_a = -1;  // side A waits on it
  int doorbell_b = -1;  // side B waits on it
};

// Returns 0 or -errno (nothing left open on failure).
int CreateChannelFds(ChannelFds* out, RegionPages kind);
void CloseChannelFds(ChannelFds* fds);

}  // namespace pvm
