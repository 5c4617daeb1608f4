#include "monitor/backends/xen/memshr_fork.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "monitor/backends/xen/owner_tag.h"

namespace pvm::monitor::xen {

bool MemshrAvailable(xc_interface* xc, uint32_t domid) {
  const char* choice = getenv("PVM_XEN_FORK");
  if (choice && strcmp(choice, "copy") == 0) return false;
  return xc_memshr_control(xc, domid, 0) == 0 || errno != ENOSYS;
}

namespace {

// One fork of `p`: created paused under this monitor's tag (naming p as its template),
// armed, forked. `out` holds it (destroyed with it) even when the fork failed.
bool ForkOne(XenHandles* xen, Watchdog* watchdog, uint32_t p, uint64_t ram_bytes, std::unique_ptr<XenDomain>* out,
             Failure* why) {
  *out = std::make_unique<XenDomain>(xen);
  bool made = (*out)->Create(OwnerTag::Self(static_cast<uint16_t>(p)), why);
  if ((*out)->exists()) watchdog->Arm((*out)->id());
  return made && (*out)->ForkFrom(p, ram_bytes, why);
}

// Destroys `d` (and disarms it) if it exists.
void Drop(Watchdog* watchdog, std::unique_ptr<XenDomain>* d) {
  if (!*d) return;
  uint32_t id = (*d)->id();
  bool existed = (*d)->exists();
  d->reset();
  if (existed) watchdog->Disarm(id);
}

}  // namespace

bool MakeMemshrClone(XenHandles* xen, Watchdog* watchdog, uint32_t p, uint16_t p_template, uint64_t ram_bytes,
                     MemshrClone* out, Failure* why) {
  MemshrClone c;
  // A first: when the hypervisor has no memory sharing, that is where it says so.
  bool ok = ForkOne(xen, watchdog, p, ram_bytes, &c.a, why) && ForkOne(xen, watchdog, p, ram_bytes, &c.b, why);
  // P frozen: no monitor drives it any more and nothing destroys it but the collection.
  if (ok && !Retag(xen->xc, p, OwnerTag::Template(p_template))) {
    ok = FailErrno(why, ctl::ErrorCode::Internal, "xen: retagging the parent's domain as a template");
  }
  // A template keeps its paging pool (~1 MiB): a fork's first read of a page turns the
  // template's entry into a shared one, which splits a 2 MiB mapping, and Xen takes the
  // page table from that pool (an empty pool: a BUG in nominate_page, the host down).
  if (!ok) {
    int e = why->sys_errno;
    Drop(watchdog, &c.b);  // Xen undoes each fork's pause of P as the fork is destroyed
    Drop(watchdog, &c.a);
    why->sys_errno = e;
    return false;
  }
  *out = std::move(c);
  return true;
}

}  // namespace pvm::monitor::xen
