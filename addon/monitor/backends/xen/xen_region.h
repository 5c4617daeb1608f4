// Channel and shared-region pages in a domain (docs/xen-channels.md, way (e)): the pages
// are dom0's, from gntalloc (common/region_memory.h, kind Granted); a PV dom0 grants
// machine frames, so dom0's own grant entries name the frame behind each page. Those
// frames are mapped into the domain's physmap at the channel window as direct memory
// (XEN_DOMCTL_iomem_permission + XEN_DOMCTL_memory_mapping, the passthrough-MMIO calls),
// the same frames in every domain that maps the region: guest to guest, nothing goes
// through dom0 but the doorbells. A direct entry takes no page reference: whoever maps
// must keep the pages (the fd) until the entry is removed or the domain destroyed (the
// watchdog holds a copy for that: watchdog.h).
#pragma once

#include <cstdint>
#include <vector>

#include "monitor/backends/xen/xen_libs.h"
#include "monitor/failure.h"

namespace pvm::monitor::xen {

// The machine frames of a Granted fd's data pages, in page order. EINVAL when fd is not
// one, or dom0 does not grant machine frames (a PVH dom0: see docs/xen-channels.md).
bool GrantedFrames(XenHandles* xen, int fd, std::vector<xen_pfn_t>* mfns, Failure* why);

// frames at guest frame `gfn` onwards in `domid`, one call per machine-contiguous run.
// On failure nothing stays mapped.
bool MapFrames(xc_interface* xc, uint32_t domid, uint64_t gfn, const std::vector<xen_pfn_t>& mfns, Failure* why);
// Removes what MapFrames put there and takes the domain's permission back.
void UnmapFrames(xc_interface* xc, uint32_t domid, uint64_t gfn, const std::vector<xen_pfn_t>& mfns);

}  // namespace pvm::monitor::xen
