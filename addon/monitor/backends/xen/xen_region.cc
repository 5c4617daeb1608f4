#include "monitor/backends/xen/xen_region.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern "C" {
#include <xen/grant_table.h>
}

#include "common/region_memory.h"
#include "pvm/abi.h"

namespace pvm::monitor::xen {

namespace {

constexpr uint32_t kEntriesPerFrame = PVM_PAGE_SIZE / sizeof(grant_entry_v1_t);
// Xen's default limit on a domain's grant frames is 64; dom0's may be set higher.
constexpr uint32_t kMaxGrantFrames = 1024;

// One run of machine-contiguous frames: [first, first + count) at gfn.
template <typename Fn>
bool EachRun(uint64_t gfn, const std::vector<xen_pfn_t>& mfns, Fn fn) {
  for (size_t i = 0; i < mfns.size();) {
    size_t n = 1;
    while (i + n < mfns.size() && mfns[i + n] == mfns[i] + n) n++;
    if (!fn(gfn + i, mfns[i], n)) return false;
    i += n;
  }
  return true;
}

}  // namespace

bool GrantedFrames(XenHandles* xen, int fd, std::vector<xen_pfn_t>* mfns, Failure* why) {
  std::vector<uint32_t> grefs(GrantedHeader::kMaxPages);
  int n = RegionFdGrefs(fd, grefs.data(), GrantedHeader::kMaxPages);
  if (n <= 0) return Fail(why, ctl::ErrorCode::Internal, EINVAL, "xen: a channel or region whose pages are not granted dom0 pages");
  grefs.resize(n);
  uint32_t frames = *std::max_element(grefs.begin(), grefs.end()) / kEntriesPerFrame + 1;
  if (frames > kMaxGrantFrames) return Fail(why, ctl::ErrorCode::Internal, E2BIG, "xen: grant ref beyond dom0's table");
  // Where dom0's grant table lives (GNTTABOP_setup_table on itself): machine frames, on a
  // PV dom0. It may grow the table to `frames`, which it already has (the refs are in it).
  auto* op = static_cast<gnttab_setup_table*>(xencall_alloc_buffer(xen->call, sizeof(gnttab_setup_table)));
  auto* list = static_cast<xen_pfn_t*>(xencall_alloc_buffer(xen->call, frames * sizeof(xen_pfn_t)));
  if (!op || !list) {
    if (op) xencall_free_buffer(xen->call, op);
    if (list) xencall_free_buffer(xen->call, list);
    return Fail(why, ctl::ErrorCode::NoMemory, ENOMEM, "xen: hypercall buffers");
  }
  std::memset(op, 0, sizeof *op);
  op->dom = DOMID_SELF;
  op->nr_frames = frames;
  op->frame_list.p = list;  // set directly: xenctrl.h redefines set_xen_guest_handle
  int rc = xencall3(xen->call, __HYPERVISOR_grant_table_op, GNTTABOP_setup_table, reinterpret_cast<uintptr_t>(op), 1);
  int err = errno;
  int16_t status = op->status;
  std::vector<xen_pfn_t> table(list, list + frames);
  xencall_free_buffer(xen->call, op);
  xencall_free_buffer(xen->call, list);
  if (rc != 0 || status != GNTST_okay) {
    return Fail(why, ctl::ErrorCode::Internal, rc != 0 ? err : EIO, "xen: dom0's grant table (setup_table status %d)", status);
  }
  // Mapped by machine frame as DOMID_SELF (dom0's id 0 is refused: "itself as foreign").
  std::vector<int> errs(frames, 0);
  auto* entries = static_cast<const grant_entry_v1_t*>(
      xenforeignmemory_map(xen->fmem, DOMID_SELF, PROT_READ, frames, table.data(), errs.data()));
  if (!entries) return FailErrno(why, ctl::ErrorCode::Internal, "xen: mapping dom0's grant table");
  bool ok = std::none_of(errs.begin(), errs.end(), [](int e) { return e != 0; });
  mfns->clear();
  for (uint32_t ref : grefs) {
    if (!ok) break;
    const grant_entry_v1_t& e = entries[ref];
    // What region_memory.cc granted: to dom0, writable. Anything else is not ours.
    ok = (e.flags & GTF_type_mask) == GTF_permit_access && !(e.flags & GTF_readonly) && e.domid == 0 && e.frame != 0;
    mfns->push_back(e.frame);
  }
  xenforeignmemory_unmap(xen->fmem, const_cast<grant_entry_v1_t*>(entries), frames);
  if (!ok) return Fail(why, ctl::ErrorCode::Internal, EINVAL, "xen: a region page's grant entry is not what pvm wrote");
  return true;
}

bool MapFrames(xc_interface* xc, uint32_t domid, uint64_t gfn, const std::vector<xen_pfn_t>& mfns, Failure* why) {
  uint64_t done = 0;  // pages mapped so far (runs are in order)
  int err = 0;
  bool ok = EachRun(gfn, mfns, [&](uint64_t at, xen_pfn_t first, size_t n) {
    if (xc_domain_iomem_permission(xc, domid, first, n, 1) != 0) return err = errno, false;
    if (xc_domain_memory_mapping(xc, domid, at, first, n, DPCI_ADD_MAPPING) != 0) {
      err = errno;
      xc_domain_iomem_permission(xc, domid, first, n, 0);
      return false;
    }
    done += n;
    return true;
  });
  if (ok) return true;
  std::vector<xen_pfn_t> mapped(mfns.begin(), mfns.begin() + done);
  UnmapFrames(xc, domid, gfn, mapped);
  errno = err;
  return FailErrno(why, ctl::ErrorCode::NoMemory, "xen: mapping a channel's pages into the domain");
}

void UnmapFrames(xc_interface* xc, uint32_t domid, uint64_t gfn, const std::vector<xen_pfn_t>& mfns) {
  EachRun(gfn, mfns, [&](uint64_t at, xen_pfn_t first, size_t n) {
    xc_domain_memory_mapping(xc, domid, at, first, n, DPCI_REMOVE_MAPPING);
    xc_domain_iomem_permission(xc, domid, first, n, 0);
    return true;
  });
}

}  // namespace pvm::monitor::xen
