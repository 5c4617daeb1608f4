// Fuzzes the process backend's decoding (addon/monitor/backends/process/): a fault
// signal as the kernel delivers it (signal, si_code, trap number, error code, address,
// the instruction bytes at rip) → DecodeFault → the VcpuExit Run reports
// (ExitFromFault) → the fault status the host gets (DescribeFault); and a call of the
// transport's entry with any value and port (ExitFromCall). Invariants: nothing outside
// the guest bytes is read (AddressSanitizer: they sit at the end of an allocation of
// their exact size), an instruction stepped over lies inside them, only a 4-byte write
// of the doorbell or floor port is a hypercall, every reason is a terminated string.
//
// Input: [signal: u8] [si_code: u8; 0xf0 and up negative] [trapno: u8] [error code: u16] [address: u64]
//        [rax: u32] [rdx: u16] [syscall nr: u16] [rip offset: u8] [call value: u64]
//        [call port: u16] [guest bytes...]
//   signal % 7: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGUSR1 (not a fault)
//   rip = the guest bytes' start + rip offset (past them: a rip outside guest memory)
#include <signal.h>
#include <ucontext.h>

#include <cstring>
#include <memory>

#include "fuzz/fuzz_common.h"
#include "monitor/backends/process/exits.h"
#include "monitor/backends/process/fault_decode.h"
#include "monitor/fault.h"
#include "pvm/abi.h"

using pvm::fuzz::Input;
namespace mon = pvm::monitor;
namespace proc = pvm::monitor::process;

namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGUSR1};
constexpr uint64_t kRamSize = 16ull << 20;

void CheckReason(const mon::VcpuExit& exit) {
  if (exit.kind == mon::VcpuExit::Kind::Hypercall || exit.kind == mon::VcpuExit::Kind::Interrupted) return;
  pvm::ctl::Exit e = mon::DescribeFault(exit, kRamSize);
  PVM_FUZZ_CHECK(memchr(e.reason, 0, sizeof e.reason) != nullptr, "a fault reason without its NUL");
  PVM_FUZZ_CHECK(e.reason[0] != 0, "an empty fault reason");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  int sig = kSignals[in.Byte() % 7];
  uint8_t code = in.Byte();
  int si_code = code >= 0xf0 ? code - 256 : code;  // 0x80 is SI_KERNEL; 0xf0.. are negative (SI_QUEUE, ...)
  uint8_t trapno = in.Byte();
  uint16_t err = in.U16();
  uint64_t addr = in.U64();
  uint32_t rax = in.U32();
  uint16_t rdx = in.U16();
  uint16_t syscall_nr = in.U16();
  uint8_t rip_offset = in.Byte();
  uint64_t call_value = in.U64();
  uint16_t call_port = in.U16();
  std::span<const uint8_t> bytes = in.Rest();

  // The guest bytes at the very end of a heap block of their size: one byte more read
  // is a heap overflow AddressSanitizer reports.
  size_t n = bytes.size();
  std::unique_ptr<uint8_t[]> guest(new uint8_t[n ? n : 1]);
  if (n) memcpy(guest.get(), bytes.data(), n);
  uint64_t lo = reinterpret_cast<uint64_t>(guest.get());
  uint64_t hi = lo + n;

  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = si_code;
  info.si_addr = reinterpret_cast<void*>(addr);
  if (sig == SIGSYS) info.si_syscall = syscall_nr;
  ucontext_t uc{};
  uc.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(lo + rip_offset);
  uc.uc_mcontext.gregs[REG_TRAPNO] = trapno;
  uc.uc_mcontext.gregs[REG_ERR] = err;
  uc.uc_mcontext.gregs[REG_RAX] = rax;
  uc.uc_mcontext.gregs[REG_RDX] = rdx;

  proc::GuestFault f;
  proc::DecodeFault(sig, &info, &uc, lo, hi, &f);
  if (f.insn != proc::GuestFault::Insn::None) {
    PVM_FUZZ_CHECK(!f.outside_guest && f.length >= 1 && f.length <= 3, "instruction of %u bytes", f.length);
    PVM_FUZZ_CHECK(f.rip >= lo && f.rip + f.length <= hi, "an instruction decoded past the guest bytes");
  }
  mon::VcpuExit exit;
  uint8_t step = 0;
  proc::ExitFromFault(f, &exit, &step);
  if (exit.kind == mon::VcpuExit::Kind::Hypercall) {
    PVM_FUZZ_CHECK(exit.is_write && exit.size == 4 && (exit.port == PVM_HC_PORT || exit.port == PVM_HC_FLOOR_PORT),
                   "a hypercall from a %u-byte access to port 0x%x", exit.size, exit.port);
    PVM_FUZZ_CHECK(step == f.length && step > 0, "a port-write hypercall stepped over by %u bytes", step);
  } else {
    PVM_FUZZ_CHECK(step == 0, "a step of %u bytes for a non-hypercall", step);
  }
  CheckReason(exit);

  mon::VcpuExit call;
  proc::ExitFromCall(call_value, call_port, 0x200000, &call);
  bool doorbell = (call_port == PVM_HC_PORT || call_port == PVM_HC_FLOOR_PORT) && call_value <= UINT32_MAX;
  PVM_FUZZ_CHECK((call.kind == mon::VcpuExit::Kind::Hypercall) == doorbell, "entry(0x%llx, 0x%x) decoded wrongly",
                 static_cast<unsigned long long>(call_value), call_port);
  CheckReason(call);
  return 0;
}
