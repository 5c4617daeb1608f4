// The kernel objects of one channel (layout: hypercalls/abi.json "channel"): a sealed
// memfd of PVM_CHANNEL_SIZE bytes and an eventfd doorbell per side. Made by a monitor
// (fork) or by the host (channels it hands out), so both make them the same way.
#pragma once

namespace pvm {

struct ChannelFds {
  int memfd = -1;
  int doorbell_a = -1;  // side A waits on it
  int doorbell_b = -1;  // side B waits on it
};

// Returns 0 or -errno (nothing left open on failure).
int CreateChannelFds(ChannelFds* out);
void CloseChannelFds(ChannelFds* fds);

}  // namespace pvm
