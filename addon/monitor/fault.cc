#include "monitor/fault.h"

#include <cstdarg>
#include <cstdio>

#include "monitor/boot_setup.h"
#include "monitor/failure.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

using ull = unsigned long long;

constexpr uint32_t kPageFault = PVM_EXC_PF;

// #PF error code bits.
constexpr uint64_t kPfPresent = 1 << 0;
constexpr uint64_t kPfWrite = 1 << 1;
constexpr uint64_t kPfReserved = 1 << 3;
constexpr uint64_t kPfFetch = 1 << 4;

// The vector's readable name (abi.json exceptions).
const char* ExceptionName(uint32_t vector) {
  switch (vector) {
#define PVM_EXCEPTION_NAME(v, mnemonic, name) \
  case v: return name;
    PVM_EXCEPTION_LIST(PVM_EXCEPTION_NAME)
#undef PVM_EXCEPTION_NAME
    default: return "exception";
  }
}

ctl::Exit FaultExit(ctl::FaultKind kind, uint64_t rip, uint64_t address) {
  ctl::Exit e{};
  e.kind = ctl::ExitKind::Fault;
  e.fault = kind;
  e.vector = ctl::kNoVector;
  e.rip = rip;
  e.address = address;
  return e;
}

void Reason(ctl::Exit* e, const char* format, ...) __attribute__((format(printf, 2, 3)));
void Reason(ctl::Exit* e, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vsnprintf(e->reason, sizeof e->reason, format, ap);
  va_end(ap);
}

void DescribePageFault(const VcpuExit& x, uint64_t ram_size, ctl::Exit* e) {
  const char* access = (x.error_code & kPfFetch) ? "instruction fetch from" : (x.error_code & kPfWrite) ? "write to" : "read of";
  uint64_t guard = StackGuardGpa(ram_size);
  if (x.cr2 >= guard && x.cr2 - guard < PVM_PAGE_SIZE && !(x.error_code & kPfFetch)) {
    Reason(e, "stack overflow: page fault (#PF) at rip 0x%llx: %s the guard page below the stack at 0x%llx (error code 0x%llx)",
           (ull)x.rip, access, (ull)x.cr2, (ull)x.error_code);
    return;
  }
  const char* what = (x.error_code & kPfReserved) ? "address with a bad page-table entry"
                     : (x.error_code & kPfPresent) ? "protected address"
                                                   : "unmapped address";
  char where[64] = "";
  if (x.cr2 >= ram_size) snprintf(where, sizeof where, " (beyond %s of guest RAM)", SizeText(ram_size).c_str());
  if (x.cr2 < PVM_PAGE_SIZE) snprintf(where, sizeof where, " (null pointer)");
  Reason(e, "page fault (#PF) at rip 0x%llx: %s %s 0x%llx%s (error code 0x%llx)", (ull)x.rip, access, what, (ull)x.cr2,
         where, (ull)x.error_code);
}

}  // namespace

const char* ExceptionMnemonic(uint32_t vector) {
  switch (vector) {
#define PVM_EXCEPTION_MNEMONIC(v, mnemonic, name) \
  case v: return mnemonic;
    PVM_EXCEPTION_LIST(PVM_EXCEPTION_MNEMONIC)
#undef PVM_EXCEPTION_MNEMONIC
    default: return nullptr;
  }
}

ctl::Exit DescribeFault(const VcpuExit& x, uint64_t ram_size) {
  ctl::Exit e{};
  switch (x.kind) {
    case VcpuExit::Kind::Exception: {
      e = FaultExit(ctl::FaultKind::Exception, x.rip, x.vector == kPageFault ? x.cr2 : 0);
      e.vector = x.vector;
      e.error_code = x.has_error_code ? x.error_code : 0;
      if (x.raw_syscall >= 0) {
        // A backend that runs the guest as a process stopped it (seccomp) before the host.
        Reason(&e, "raw system call %lld at rip 0x%llx: a pVM reaches the host only through hypercalls (%s, %s)",
               (long long)x.raw_syscall, (ull)x.rip, ExceptionName(x.vector),
               ExceptionMnemonic(x.vector) ? ExceptionMnemonic(x.vector) : "?");
        break;
      }
      if (x.vector == kPageFault) {
        DescribePageFault(x, ram_size, &e);
        break;
      }
      const char* mnemonic = ExceptionMnemonic(x.vector);
      char code[40] = "";
      if (x.has_error_code) snprintf(code, sizeof code, " (error code 0x%llx)", (ull)x.error_code);
      // #BP and #OF are traps: the saved RIP is the instruction after the one that raised it.
      const char* trap = x.vector == 3 || x.vector == 4 ? " (after the instruction)" : "";
      if (x.outside_guest) {
        Reason(&e, "%s (%s) at rip 0x%llx (outside guest memory: the guest jumped out of it)%s%s",
               ExceptionName(x.vector), mnemonic ? mnemonic : "?", (ull)x.rip, trap, code);
      } else if (mnemonic) {
        Reason(&e, "%s (%s) at rip 0x%llx%s%s", ExceptionName(x.vector), mnemonic, (ull)x.rip, trap, code);
      } else {
        Reason(&e, "exception vector %u at rip 0x%llx%s", x.vector, (ull)x.rip, code);
      }
      break;
    }
    case VcpuExit::Kind::TripleFault: {
      e = FaultExit(ctl::FaultKind::TripleFault, x.rip, 0);
      const char* mnemonic = x.vector_known ? ExceptionMnemonic(x.vector) : nullptr;
      if (mnemonic) {
        Reason(&e, "triple fault at rip 0x%llx (delivering %s (%s) failed: the guest damaged its IDT, fault stack or page tables)",
               (ull)x.rip, ExceptionName(x.vector), mnemonic);
      } else {
        Reason(&e, "triple fault at rip 0x%llx", (ull)x.rip);
      }
      break;
    }
    case VcpuExit::Kind::Io:
      e = FaultExit(ctl::FaultKind::BadIo, x.rip, x.port);
      Reason(&e, "bad port I/O at rip 0x%llx: %u-byte %s port 0x%x (hypercalls are 4-byte out to port 0x%x)", (ull)x.rip,
             x.size, x.is_write ? "out to" : "in from", x.port, static_cast<unsigned>(PVM_HC_PORT));
      break;
    case VcpuExit::Kind::Mmio:
      e = FaultExit(ctl::FaultKind::BadMemory, x.rip, x.gpa);
      Reason(&e, "access outside guest RAM at rip 0x%llx: %u-byte %s guest-physical 0x%llx (RAM is %s)", (ull)x.rip,
             x.size, x.is_write ? "write to" : "read of", (ull)x.gpa, SizeText(ram_size).c_str());
      break;
    case VcpuExit::Kind::Halt:
      e = FaultExit(ctl::FaultKind::Internal, x.rip, 0);
      Reason(&e, "guest halted at rip 0x%llx (hlt with nothing to wake it; use the EXIT hypercall)", (ull)x.rip);
      break;
    case VcpuExit::Kind::Internal:
    case VcpuExit::Kind::FaultReport:  // callers resolve it first (ResolveFaultReport)
    case VcpuExit::Kind::Hypercall:
    case VcpuExit::Kind::Interrupted:
      e = FaultExit(ctl::FaultKind::Internal, x.rip, 0);
      Reason(&e, "%s at rip 0x%llx", x.detail[0] ? x.detail : "internal error", (ull)x.rip);
      break;
  }
  return e;
}

VcpuExit ResolveFaultReport(const VcpuExit& x, const GuestMemory& ram) {
  if (x.kind != VcpuExit::Kind::FaultReport) return x;
  VcpuExit out = x;
  FaultFrame frame;
  if (!ReadFaultFrame(ram, x.rip, x.rsp, &frame)) {
    out.kind = VcpuExit::Kind::Io;
    out.port = PVM_FAULT_PORT;
    out.size = 1;
    out.is_write = true;
    return out;
  }
  out.kind = VcpuExit::Kind::Exception;
  out.vector_known = true;
  out.vector = frame.vector;
  out.has_error_code = frame.has_error_code;
  out.error_code = frame.has_error_code ? frame.error_code : 0;
  out.rip = frame.rip;
  return out;
}

ctl::Exit BadHypercallFault(uint32_t nr, uint64_t rip) {
  ctl::Exit e = FaultExit(ctl::FaultKind::BadHypercall, rip, nr);
  Reason(&e, "unknown hypercall %u at rip 0x%llx", nr, (ull)rip);
  return e;
}

ctl::Exit InternalFault(const char* what, uint64_t rip) {
  ctl::Exit e = FaultExit(ctl::FaultKind::Internal, rip, 0);
  Reason(&e, "monitor error: %s", what);
  return e;
}

}  // namespace pvm::monitor
