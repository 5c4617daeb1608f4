#include "monitor/backends/xen/hvm_context.h"

#include <cstring>

namespace pvm::monitor::xen {

namespace {

// Xen's packed segment attributes: type 0-3, S 4, DPL 5-6, P 7, AVL 8, L 9, D/B 10, G 11.
constexpr uint32_t kCode64 = 0xa9b;   // G | L | P | S | execute/read, accessed
constexpr uint32_t kFlatData = 0xc93;  // G | D/B | P | S | read/write, accessed
constexpr uint32_t kBusyTss64 = 0x8b;  // P | busy 64-bit TSS (VM entry checks it)
constexpr uint32_t kLdt = 0x82;        // P | LDT, limit 0: unused

void Append(std::vector<uint8_t>* out, uint16_t type, const void* body, uint32_t len) {
  hvm_save_descriptor d{type, 0, len};
  auto* p = reinterpret_cast<const uint8_t*>(&d);
  out->insert(out->end(), p, p + sizeof d);
  out->insert(out->end(), static_cast<const uint8_t*>(body), static_cast<const uint8_t*>(body) + len);
}

hvm_hw_cpu EntryCpu(const EntryState& e) {
  hvm_hw_cpu cpu{};
  cpu.rip = e.rip;
  cpu.rsp = e.rsp;
  cpu.rdi = e.rdi;
  cpu.rsi = e.rsi;
  cpu.rdx = e.rdx;
  cpu.rflags = e.rflags | 2;  // bit 1 is always set
  cpu.cr0 = e.cr0;
  cpu.cr3 = e.cr3;
  cpu.cr4 = e.cr4;
  cpu.msr_efer = e.efer;
  cpu.cs_sel = e.code_selector;
  cpu.cs_limit = 0xffffffff;
  cpu.cs_arbytes = kCode64;
  auto data = [&](uint32_t* sel, uint32_t* limit, uint32_t* ar) {
    *sel = e.data_selector;
    *limit = 0xffffffff;
    *ar = kFlatData;
  };
  data(&cpu.ds_sel, &cpu.ds_limit, &cpu.ds_arbytes);
  data(&cpu.es_sel, &cpu.es_limit, &cpu.es_arbytes);
  data(&cpu.ss_sel, &cpu.ss_limit, &cpu.ss_arbytes);
  data(&cpu.fs_sel, &cpu.fs_limit, &cpu.fs_arbytes);
  data(&cpu.gs_sel, &cpu.gs_limit, &cpu.gs_arbytes);
  cpu.tr_sel = e.tss_selector;
  cpu.tr_base = e.tss_base;
  cpu.tr_limit = e.tss_limit;
  cpu.tr_arbytes = kBusyTss64;
  cpu.ldtr_arbytes = kLdt;
  cpu.gdtr_base = e.gdt_base;
  cpu.gdtr_limit = e.gdt_limit;
  cpu.idtr_base = e.idt_base;
  cpu.idtr_limit = e.idt_limit;
  cpu.dr6 = 0xffff0ff0;
  cpu.dr7 = 0x400;
  // No FPU state (flags 0): Xen then gives the vCPU the reset FPU state at its first use,
  // also after exec (the old image's state is not handed over). Loading an FXSAVE image
  // here (XEN_X86_FPU_INITIALISED) coincided with dom0 processes crashing on the test host.
  cpu.flags = 0;
  return cpu;
}

hvm_hw_mtrr EntryMtrr() {
  hvm_hw_mtrr mtrr{};
  mtrr.msr_pat_cr = 0x0007040600070406ull;                    // the reset PAT
  mtrr.msr_mtrr_cap = (1 << 10) | (1 << 8) | MTRR_VCNT;       // as Xen's vMTRR reports it
  mtrr.msr_mtrr_def_type = (1 << 11) | 6;                     // enabled, default write-back
  return mtrr;
}

}  // namespace

bool GetHvmContext(xc_interface* xc, uint32_t domid, std::vector<uint8_t>* out, Failure* why) {
  int size = xc_domain_hvm_getcontext(xc, domid, nullptr, 0);
  if (size <= 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_hvm_getcontext (size)");
  out->resize(size);
  size = xc_domain_hvm_getcontext(xc, domid, out->data(), out->size());
  if (size <= 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_hvm_getcontext");
  out->resize(size);
  return true;
}

std::vector<uint8_t> WithEntryCpu(const std::vector<uint8_t>& ctx, const EntryState& entry) {
  const uint16_t kHeader = HVM_SAVE_CODE(HEADER), kCpu = HVM_SAVE_CODE(CPU), kMtrr = HVM_SAVE_CODE(MTRR),
                 kEnd = HVM_SAVE_CODE(END);
  hvm_hw_cpu cpu = EntryCpu(entry);
  hvm_hw_mtrr mtrr = EntryMtrr();
  std::vector<uint8_t> out;
  size_t off = 0;
  while (off + sizeof(hvm_save_descriptor) <= ctx.size()) {
    hvm_save_descriptor d;
    memcpy(&d, ctx.data() + off, sizeof d);
    size_t next = off + sizeof d + d.length;
    if (next > ctx.size()) break;
    bool replaced = (d.typecode == kCpu || d.typecode == kMtrr) && d.instance == 0;
    if (!replaced) out.insert(out.end(), ctx.begin() + off, ctx.begin() + next);
    if (d.typecode == kHeader) {
      Append(&out, kCpu, &cpu, sizeof cpu);
      Append(&out, kMtrr, &mtrr, sizeof mtrr);
    }
    if (d.typecode == kEnd) break;
    off = next;
  }
  return out;
}

}  // namespace pvm::monitor::xen
