// vCPU state as Xen takes it: an HVM context blob (save records). A fresh domain's vCPU is
// down and Xen saves no CPU record for it, so the entry state is a CPU record (and an MTRR
// record: memory is uncacheable until the MTRRs say otherwise) built here and put right
// after the header; loading a CPU record brings the vCPU up.
#pragma once

#include <cstdint>
#include <vector>

extern "C" {
#include <xenctrl.h>
#include <xen/hvm/save.h>
}

#include "monitor/backend.h"
#include "monitor/failure.h"

namespace pvm::monitor::xen {

bool GetHvmContext(xc_interface* xc, uint32_t domid, std::vector<uint8_t>* out, Failure* why);

// `ctx` with vCPU 0's CPU and MTRR records replaced by ones for `entry`: 64-bit long mode
// on the boot set-up's GDT, TSS, IDT and page tables, the FPU as after reset.
std::vector<uint8_t> WithEntryCpu(const std::vector<uint8_t>& ctx, const EntryState& entry);

}  // namespace pvm::monitor::xen
