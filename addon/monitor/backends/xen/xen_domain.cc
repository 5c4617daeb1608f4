#include "monitor/backends/xen/xen_domain.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "monitor/backends/xen/hvm_context.h"

extern "C" {
#include <xen/hvm/params.h>
#include <xen/sched.h>
}

namespace pvm::monitor::xen {

namespace {

constexpr uint64_t kPage = 4096;
constexpr unsigned kExtentOrder = 9;  // 2 MiB extents

}  // namespace

bool XenDomain::Create(const OwnerTag& tag, Failure* why) {
  xen_domctl_createdomain cfg{};
  cfg.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
  cfg.max_vcpus = 1;
  cfg.max_evtchn_port = 1023;
  cfg.max_grant_frames = -1;
  cfg.max_maptrack_frames = -1;
  cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
  // No emulated PIC/PIT/RTC/IOAPIC: nothing but the ioreq server serves this guest.
  cfg.arch.emulation_flags = XEN_X86_EMU_LAPIC;
  tag.Write(cfg.handle);
  uint32_t domid = 0;  // Xen picks
  if (xc_domain_create(xen_->xc, &domid, &cfg) < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_create");
  id_ = domid;
  exists_ = true;
  // Without it xc_domain_hvm_getcontext crashes Xen 4.17 (the vCPU array is missing).
  if (xc_domain_max_vcpus(xen_->xc, id_, 1) < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_max_vcpus");
  // The default is power-off, which a halted guest also gives: make a triple fault a crash.
  if (xc_hvm_param_set(xen_->xc, id_, HVM_PARAM_TRIPLE_FAULT_REASON, SHUTDOWN_crash) < 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: HVM_PARAM_TRIPLE_FAULT_REASON");
  }
  return true;
}

void XenDomain::Adopt(uint32_t id, uint64_t ram_bytes) {
  Destroy();
  id_ = id;
  exists_ = true;
  ram_bytes_ = ram_bytes;
}

bool XenDomain::ForkFrom(uint32_t parent, uint64_t ram_bytes, Failure* why) {
  // No IOMMU here; interrupts are not blocked (the guest takes none anyway).
  if (xc_memshr_fork(xen_->xc, parent, id_, false, false) < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_memshr_fork");
  ram_bytes_ = ram_bytes;
  return true;
}

bool XenDomain::SetRam(uint64_t bytes, Failure* why) {
  // A little slack over RAM: Xen itself takes a few pages of the domain's allowance.
  if (xc_domain_setmaxmem(xen_->xc, id_, (bytes > ram_bytes_ ? bytes : ram_bytes_) / 1024 + 1024) < 0) {
    return FailErrno(why, ctl::ErrorCode::NoMemory, "xen: xc_domain_setmaxmem");
  }
  if (bytes > ram_bytes_) {
    std::vector<xen_pfn_t> pfns;
    for (uint64_t pfn = ram_bytes_ / kPage; pfn < bytes / kPage; pfn += 1u << kExtentOrder) pfns.push_back(pfn);
    if (xc_domain_populate_physmap_exact(xen_->xc, id_, pfns.size(), kExtentOrder, 0, pfns.data()) != 0) {
      // No 2 MiB pages free: 4 KiB ones.
      pfns.clear();
      for (uint64_t pfn = ram_bytes_ / kPage; pfn < bytes / kPage; pfn++) pfns.push_back(pfn);
      if (xc_domain_populate_physmap_exact(xen_->xc, id_, pfns.size(), 0, 0, pfns.data()) != 0) {
        return FailErrno(why, ctl::ErrorCode::NoMemory, "xen: populating guest RAM");
      }
    }
  } else if (bytes < ram_bytes_) {
    std::vector<xen_pfn_t> pfns;
    for (uint64_t pfn = bytes / kPage; pfn < ram_bytes_ / kPage; pfn++) pfns.push_back(pfn);
    // A memshr fork has holes where it never touched a page (its template holds it):
    // Xen stops at each; it is stepped over.
    for (size_t done = 0; done < pfns.size();) {
      int n = xc_domain_decrease_reservation(xen_->xc, id_, pfns.size() - done, 0, pfns.data() + done);
      if (n < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: giving back guest RAM");
      done += static_cast<size_t>(n);
      if (done < pfns.size()) done++;  // a hole
    }
    xc_domain_setmaxmem(xen_->xc, id_, bytes / 1024 + 1024);
  }
  ram_bytes_ = bytes;
  return true;
}

uint8_t* XenDomain::Map(uint64_t first_page, uint64_t count) {
  std::vector<xen_pfn_t> pfns(count);
  for (uint64_t i = 0; i < count; i++) pfns[i] = first_page + i;
  std::vector<int> errs(count);
  void* m = xenforeignmemory_map(xen_->fmem, id_, PROT_READ | PROT_WRITE, count, pfns.data(), errs.data());
  if (!m) return nullptr;
  for (int e : errs) {
    if (e) {
      xenforeignmemory_unmap(xen_->fmem, m, count);
      errno = -e;
      return nullptr;
    }
  }
  return static_cast<uint8_t*>(m);
}

void XenDomain::Unmap(uint8_t* at, uint64_t count) { xenforeignmemory_unmap(xen_->fmem, at, count); }

bool XenDomain::SetEntryState(const EntryState& entry, Failure* why) {
  std::vector<uint8_t> ctx;
  if (!GetHvmContext(xen_->xc, id_, &ctx, why)) return false;
  std::vector<uint8_t> blob = WithEntryCpu(ctx, entry);
  if (xc_domain_hvm_setcontext(xen_->xc, id_, blob.data(), blob.size()) < 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_hvm_setcontext");
  }
  return true;
}

bool XenDomain::ReadCpu(hvm_hw_cpu* cpu, Failure* why) {
  if (xc_domain_hvm_getcontext_partial(xen_->xc, id_, HVM_SAVE_CODE(CPU), 0, cpu, sizeof *cpu) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: reading the vCPU");
  }
  return true;
}

bool XenDomain::Pause(Failure* why) {
  if (xc_domain_pause(xen_->xc, id_) < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_pause");
  return true;
}

bool XenDomain::Unpause(Failure* why) {
  if (xc_domain_unpause(xen_->xc, id_) < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_unpause");
  return true;
}

DomainState XenDomain::State() {
  xc_domaininfo_t info{};
  int n = xc_domain_getinfolist(xen_->xc, id_, 1, &info);
  if (n != 1 || info.domain != id_ || (info.flags & XEN_DOMINF_dying)) return DomainState::Gone;
  if (!(info.flags & XEN_DOMINF_shutdown)) return DomainState::Running;
  unsigned reason = (info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
  if (reason == SHUTDOWN_poweroff) return DomainState::PoweredOff;
  if (reason == SHUTDOWN_crash) return DomainState::Crashed;
  return DomainState::OtherShutdown;
}

void XenDomain::Destroy() {
  if (!exists_) return;
  exists_ = false;
  xc_domain_destroy(xen_->xc, id_);
}

}  // namespace pvm::monitor::xen
