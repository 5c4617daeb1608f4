#include "monitor/console.h"

#include <cstdio>

#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

uint64_t* BootInfoField(const GuestMemory& ram, uint64_t offset) {
  return reinterpret_cast<uint64_t*>(ram.At(PVM_BOOT_INFO_GPA + offset, sizeof(uint64_t)));
}

}  // namespace

Console::Console(const GuestMemory& ram, ControlChannel* control) : ram_(ram), control_(control) {
  Resync();  // where the last monitor left off: 0 at boot, the snapshot's after a spawn from one
}

void Console::Resync() {
  if (const uint64_t* tail = BootInfoField(ram_, PVM_BOOT_INFO_CONSOLE_TAIL_OFFSET)) tail_value_ = *tail;
}

void Console::Drain() {
  // Looked up at every drain, never kept: windowed RAM (xen) maps them only for the
  // exit being handled.
  volatile uint64_t* head_at = BootInfoField(ram_, PVM_BOOT_INFO_CONSOLE_HEAD_OFFSET);
  if (!head_at) return;
  // The vCPU is stopped while the monitor handles an exit: a plain load sees everything
  // the guest wrote before it.
  uint64_t head = *head_at;
  if (head == tail_value_) return;
  volatile uint64_t* tail_at = BootInfoField(ram_, PVM_BOOT_INFO_CONSOLE_TAIL_OFFSET);
  const uint8_t* ring = ram_.At(PVM_CONSOLE_GPA, PVM_CONSOLE_SIZE);
  if (!tail_at || !ring) return;
  uint64_t pending = head - tail_value_;  // indices run free: unsigned wrap-around is fine
  if (pending > PVM_CONSOLE_SIZE) {
    char note[160];
    int n = snprintf(note, sizeof note, "\n[pvm: console ring indices broken (head 0x%llx, tail 0x%llx); output lost]\n",
                     static_cast<unsigned long long>(head), static_cast<unsigned long long>(tail_value_));
    control_->SendConsole(reinterpret_cast<const uint8_t*>(note), static_cast<size_t>(n));
    tail_value_ = head;
    *tail_at = tail_value_;
    return;
  }
  // At most two pieces: up to the end of the ring, then from its start.
  while (pending > 0) {
    uint64_t offset = tail_value_ % PVM_CONSOLE_SIZE;
    uint64_t piece = PVM_CONSOLE_SIZE - offset;
    if (piece > pending) piece = pending;
    control_->SendConsole(ring + offset, piece);
    tail_value_ += piece;
    pending -= piece;
  }
  *tail_at = tail_value_;
}

}  // namespace pvm::monitor
