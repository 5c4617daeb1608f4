// The fork of a pVM by memory sharing on xen (xc_memshr_fork; issue 19), on a hypervisor
// built with CONFIG_MEM_SHARING (Debian's stock one says ENOSYS: the copying fork,
// copy_fork.h, stays). Xen keeps a forked domain paused while any fork of it exists; the
// parent pVM must run on. So the parent's domain P becomes a frozen *template* and two
// forks of it are made: A, which the parent's monitor drives from then on (same pVM, a new
// domain id the backend keeps to itself), and B, the child's. A fork's RAM is P's: a page
// is shared when the fork first reads it, copied when it (or dom0, mapping it writable)
// first writes it; the fork's vCPU is P's.
//
// Lifetimes: every domain's owner tag names the template it is a fork of (owner_tag.h);
// a template has no owner and lives while any living domain names it. Xen's forks look
// pages up along the whole chain of templates, so a template is destroyed only once no
// fork (and no later template) names it: CollectTemplates, run wherever a domain ends (the
// backend's destructor, the watchdog at the monitor's death, the next monitor's sweep).
#pragma once

#include <cstdint>
#include <memory>

#include "monitor/backends/xen/watchdog.h"
#include "monitor/backends/xen/xen_domain.h"
#include "monitor/backends/xen/xen_libs.h"
#include "monitor/failure.h"

namespace pvm::monitor::xen {

// Whether to fork by memory sharing, asked once per monitor (a forked monitor inherits
// the answer): XEN_DOMCTL_mem_sharing_op on `domid` (turning sharing off on a domain not
// forked yet changes nothing) says ENOSYS on a hypervisor without it. PVM_XEN_FORK=copy in
// the monitor's environment chooses the copying fork anyway (the bench measures both).
bool MemshrAvailable(xc_interface* xc, uint32_t domid);

// The two forks of template P: `a` (the parent's from now on) and `b` (the child's).
struct MemshrClone {
  std::unique_ptr<XenDomain> a, b;
};

// Makes A and B from P (paused, none of its RAM mapped in dom0): each created paused under
// this monitor's tag naming P as its template and armed in `watchdog`, then forked from P;
// then retags P as a template (of `p_template`, the template P itself is a fork of: 0 if
// none). On failure destroys what it made and leaves P as it was; ENOSYS in why->sys_errno:
// no memory sharing in this hypervisor.
bool MakeMemshrClone(XenHandles* xen, Watchdog* watchdog, uint32_t p, uint16_t p_template, uint64_t ram_bytes,
                     MemshrClone* out, Failure* why);

}  // namespace pvm::monitor::xen
