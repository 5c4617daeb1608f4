#include "monitor/backends/process/fault_decode.h"

#include <cstring>

namespace pvm::monitor::process {

namespace {

constexpr uint32_t kGeneralProtection = 13;
constexpr uint32_t kStackFault = 12;
constexpr uint32_t kPageFault = 14;
constexpr uint64_t kPfUser = 1 << 2;

// Port I/O and hlt raise #GP in user mode; in a VM they are exits. Decoded from the
// instruction bytes (a 0x66 prefix makes the 32-bit forms 16-bit), of which `avail`
// are guest memory from rip on: nothing past them is read.
void DecodePrivileged(const ucontext_t* uc, uint64_t avail, GuestFault* f) {
  const greg_t* g = uc->uc_mcontext.gregs;
  const uint8_t* at = reinterpret_cast<const uint8_t*>(f->rip);
  if (avail == 0) return;
  uint8_t prefix = at[0] == 0x66 ? 1 : 0;
  if (avail < prefix + 1u) return;
  uint8_t op = at[prefix];
  uint8_t wide = prefix ? 2 : 4;
  auto io = [&](GuestFault::Insn insn, uint8_t size, bool imm) {
    uint8_t length = static_cast<uint8_t>(prefix + (imm ? 2 : 1));
    if (avail < length) return;
    f->insn = insn;
    f->size = size;
    f->port = imm ? at[prefix + 1] : static_cast<uint16_t>(g[REG_RDX]);
    f->length = length;
    f->value = static_cast<uint32_t>(g[REG_RAX]);
  };
  switch (op) {
    case 0xe4: io(GuestFault::Insn::In, 1, true); break;
    case 0xe5: io(GuestFault::Insn::In, wide, true); break;
    case 0xe6: io(GuestFault::Insn::Out, 1, true); break;
    case 0xe7: io(GuestFault::Insn::Out, wide, true); break;
    case 0xec: io(GuestFault::Insn::In, 1, false); break;
    case 0xed: io(GuestFault::Insn::In, wide, false); break;
    case 0xee: io(GuestFault::Insn::Out, 1, false); break;
    case 0xef: io(GuestFault::Insn::Out, wide, false); break;
    case 0xf4:
      if (!prefix) {
        f->insn = GuestFault::Insn::Hlt;
        f->length = 1;
      }
      break;
    default: break;
  }
}

}  // namespace

void DecodeFault(int sig, const siginfo_t* info, const ucontext_t* uc, uint64_t guest_lo, uint64_t guest_hi,
                 GuestFault* f) {
  // Linux gives the vector (REG_TRAPNO) and error code (REG_ERR) of a user-mode fault;
  // the signal and si_code are the fallback.
  const greg_t* g = uc->uc_mcontext.gregs;
  *f = GuestFault{};
  f->signo = sig;
  f->rip = static_cast<uint64_t>(g[REG_RIP]);
  f->outside_guest = f->rip < guest_lo || f->rip >= guest_hi;
  uint64_t trapno = static_cast<uint64_t>(g[REG_TRAPNO]);
  switch (sig) {
    case SIGSEGV:
      if (info->si_code == SI_KERNEL) {  // privileged instruction, non-canonical address
        f->vector = trapno == kStackFault ? kStackFault : kGeneralProtection;
        f->has_error_code = true;
        f->error_code = static_cast<uint64_t>(g[REG_ERR]);
      } else {
        f->vector = kPageFault;
        f->has_error_code = true;
        f->error_code = static_cast<uint64_t>(g[REG_ERR]) & ~kPfUser;  // as for a CPL0 guest on kvm
        f->addr = reinterpret_cast<uint64_t>(info->si_addr);
      }
      break;
    case SIGBUS:
      f->has_error_code = true;
      if (trapno == 17) {
        f->vector = 17;  // alignment check (AC set)
      } else {  // BUS_ADRERR: a shared region shrunk under its mapping
        f->vector = kPageFault;
        f->addr = reinterpret_cast<uint64_t>(info->si_addr);
      }
      break;
    case SIGILL: f->vector = 6; break;
    case SIGFPE:
      f->vector = (info->si_code == FPE_INTDIV || info->si_code == FPE_INTOVF) ? 0 : (trapno == 16 ? 16 : 19);
      break;
    case SIGTRAP: f->vector = trapno == 1 ? 1 : 3; break;  // int3: rip is after it, as on a CPU
    case SIGSYS:
      // In a VM without LSTAR `syscall` is #UD (EFER.SCE aside); here seccomp stopped it.
      f->vector = 6;
      f->raw_syscall = info->si_syscall;
      f->rip -= 2;  // the kernel reports rip after the instruction (syscall, int $0x80: 2 bytes)
      break;
    default: break;
  }
  // Reading the instruction is safe: it was fetched from guest memory to raise the #GP
  // (and only bytes below guest_hi are looked at).
  if (sig == SIGSEGV && f->vector == kGeneralProtection && !f->outside_guest) {
    DecodePrivileged(uc, guest_hi - f->rip, f);
  }
}

}  // namespace pvm::monitor::process
