// What a fault signal raised by the guest means in x86 terms, so that the process
// backend reports the same exception (vector, error code, CR2, rip) as kvm does for the
// same instruction, and the port I/O and hlt a VM would have exited on as such.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstdint>

namespace pvm::monitor::process {

struct GuestFault {
  int signo = 0;
  uint32_t vector = 0;  // 14 #PF, 13 #GP, 6 #UD, 0 #DE, 3 #BP, 17 #AC, 1 #DB, 16/19
  bool has_error_code = false;
  uint64_t error_code = 0;  // #PF: P/W/I bits as the CPU gave them, U (bit 2) cleared
  uint64_t rip = 0;
  uint64_t addr = 0;          // #PF: what CR2 would hold
  int64_t raw_syscall = -1;   // the guest ran a raw `syscall` / int $0x80 (seccomp trapped it)
  bool outside_guest = false; // rip was not in guest memory (the guest jumped out of it)
  // A #GP on an instruction that a VM exits on: port I/O (`out`, `in`) or hlt.
  enum class Insn { None, Out, In, Hlt } insn = Insn::None;
  uint16_t port = 0;     // Out/In
  uint8_t size = 0;      // Out/In: 1, 2 or 4 bytes
  uint8_t length = 0;    // bytes of the instruction (to step over it)
  uint32_t value = 0;    // Out: eax as the guest left it
};

// guest memory is [guest_lo, guest_hi): an instruction there may be read to decode it.
void DecodeFault(int sig, const siginfo_t* info, const ucontext_t* uc, uint64_t guest_lo, uint64_t guest_hi,
                 GuestFault* out);

}  // namespace pvm::monitor::process
