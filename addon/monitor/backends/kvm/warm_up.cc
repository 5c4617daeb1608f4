#include "monitor/backends/kvm/warm_up.h"

#include <cstring>

#include "monitor/boot_setup.h"
#include "pvm/abi.h"

// warm_up_stub.S
extern "C" const uint8_t pvm_kvm_warm_up_stub[];
extern "C" const uint8_t pvm_kvm_warm_up_stub_end[];

namespace pvm::monitor {

// A pooled monitor runs the guest before it has an image, so that the spawn that takes
// it does not pay for first times: KVM's set-up on a vCPU's first entry (~0.2 ms on
// kvm_pvm) and the first guest touch of each page a small guest uses (~20 µs a page on
// kvm_pvm: boot info, arguments, console, stack top, image).
bool WarmUpKvm(Backend* backend, Failure* why) {
  const size_t stub_size = static_cast<size_t>(pvm_kvm_warm_up_stub_end - pvm_kvm_warm_up_stub);
  // The stub sits in the console ring's last page, which no range below touches.
  const uint64_t stub_gpa = PVM_CONSOLE_GPA + PVM_CONSOLE_SIZE - PVM_PAGE_SIZE;
  const GuestMemory& ram = backend->memory();
  uint64_t top = ram.size();
  struct Range {
    uint64_t start, end;
  } ranges[] = {
      {PVM_BOOT_INFO_GPA, PVM_ARGS_GPA + PVM_PAGE_SIZE},
      {PVM_CONSOLE_GPA, PVM_CONSOLE_GPA + PVM_PAGE_SIZE},
      {PVM_IMAGE_BASE, PVM_IMAGE_BASE + (256 << 10)},
      {top - (64 << 10), top},
  };
  uint8_t* code = ram.At(stub_gpa, stub_size);
  if (!code) return Fail(why, ctl::ErrorCode::Internal, 0, "no room for the warm-up stub");
  std::memcpy(code, pvm_kvm_warm_up_stub, stub_size);
  bool ok = true;
  for (const Range& r : ranges) {
    EntryState at = BootControlState();
    at.rip = stub_gpa;
    at.rsi = r.start;
    at.rdx = r.end;
    VcpuExit exit;
    ok = backend->SetEntryRegs(at, why) && backend->Run(&exit, why) && backend->FinishExit(why);
    if (ok && exit.kind != VcpuExit::Kind::Hypercall) {
      ok = Fail(why, ctl::ErrorCode::Internal, 0, "warm-up run ended with exit kind %d", static_cast<int>(exit.kind));
    }
    if (!ok) break;
  }
  std::memset(code, 0, stub_size);
  return ok;
}

}  // namespace pvm::monitor
