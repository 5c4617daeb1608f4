#include "monitor/console.h"

#include <cstdio>

#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

uint64_t* BootInfoField(const GuestMemory& ram, uint64_t offset) {
  return reinterpret_cast<uint64_t*>(ram.At(PVM_BOOT_INFO_GPA + offset, sizeof(uint64_t)));
}

}  // namespace

Console::Console(const GuestMemory& ram, ControlChannel* control)
    : ring_(ram.At(PVM_CONSOLE_GPA, PVM_CONSOLE_SIZE)),
      head_(BootInfoField(ram, PVM_BOOT_INFO_CONSOLE_HEAD_OFFSET)),
      tail_(BootInfoField(ram, PVM_BOOT_INFO_CONSOLE_TAIL_OFFSET)),
      control_(control) {
  // Where the last monitor left off: 0 at boot, the snapshot's after a spawn from one.
  if (tail_) tail_value_ = *tail_;
}

void Console::Drain() {
  // The vCPU is stopped while the monitor handles an exit: a plain load sees everything
  // the guest wrote before it.
  uint64_t head = *head_;
  if (head == tail_value_) return;
  uint64_t pending = head - tail_value_;  // indices run free: unsigned wrap-around is fine
  if (pending > PVM_CONSOLE_SIZE) {
    char note[160];
    int n = snprintf(note, sizeof note, "\n[pvm: console ring indices broken (head 0x%llx, tail 0x%llx); output lost]\n",
                     static_cast<unsigned long long>(head), static_cast<unsigned long long>(tail_value_));
    control_->SendConsole(reinterpret_cast<const uint8_t*>(note), static_cast<size_t>(n));
    tail_value_ = head;
    *tail_ = tail_value_;
    return;
  }
  // At most two pieces: up to the end of the ring, then from its start.
  while (pending > 0) {
    uint64_t offset = tail_value_ % PVM_CONSOLE_SIZE;
    uint64_t piece = PVM_CONSOLE_SIZE - offset;
    if (piece > pending) piece = pending;
    control_->SendConsole(ring_ + offset, piece);
    tail_value_ += piece;
    pending -= piece;
  }
  *tail_ = tail_value_;
}

}  // namespace pvm::monitor
