// The guest's console ring (layout in hypercalls/abi.json): the guest writes bytes and
// advances console_head in the boot-info page; the monitor, at every exit, sends what is
// between its tail and the head to the host and publishes the new console_tail.
// The ring's place and size are the monitor's own constants: the copies in the boot-info
// page are the guest's to read, not to change.
#pragma once

#include <cstdint>

#include "monitor/control_channel.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor {

class Console {
 public:
  Console(const GuestMemory& ram, ControlChannel* control);

  // Sends any new bytes. A head more than a ring ahead of the tail (or behind it) is a
  // guest bug: the ring is reset to the head, with a note in the output, not a fault.
  void Drain();
  // The guest's RAM was put back as it was earlier (reset.h): take up the tail found there.
  void Resync();

 private:
  // The ring, console_head (written by the guest) and console_tail (written only by the
  // monitor) are in guest RAM.
  const GuestMemory& ram_;
  uint64_t tail_value_ = 0;  // the monitor's own tail; the guest's copy may be scribbled on
  ControlChannel* control_;
};

}  // namespace pvm::monitor
