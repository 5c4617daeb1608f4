// XenBackend's fork: by memory sharing where the hypervisor can (memshr_fork.h: the
// parent's domain becomes a template, parent and child two forks of it), else by copying
// the parent's RAM into a new domain (copy_fork.h). The rest of the class: xen_backend.cc.
#include <unistd.h>

#include <cerrno>

#include "monitor/backends/xen/owner_tag.h"
#include "monitor/backends/xen/xen_backend.h"
#include "monitor/backends/xen/xen_region.h"
#include "pvm/abi.h"

namespace pvm::monitor {

bool XenBackend::BeforeFork(Failure* why) {
  // A fork of the domain needs none of its RAM mapped in dom0 (a mapped page is copied,
  // not shared); the core's next At() maps again.
  memory_.ReleaseWindows();
  fork_path_ = ctl::kForkCopy;
  SettleMemshrChild();  // the last fork's B, before this fork's gate
  if (!fork_gate_.Open(why)) return false;
  if (memshr_ < 0) memshr_ = xen::MemshrAvailable(xen_.xc, domain_->id()) ? 1 : 0;
  return memshr_ ? ForkByMemshr(why) : true;
}

void XenBackend::AfterForkInParent() {
  // A memshr fork's parent runs on at once (A is its own); whether the child took B is
  // settled later: at the next fork or when this backend ends.
  if (!memshr_child_) fork_gate_.WaitInParent();
}

void XenBackend::SettleMemshrChild() {
  if (!memshr_child_) return;
  fork_gate_.WaitInParent();
  // B is the child's once it carries the child's tag; else the child died (or fork(2)
  // failed) before taking it: destroyed here.
  uint32_t b = memshr_child_->id();
  xen::OwnerTag tag;
  if (xen::TagOf(xen_.xc, b, &tag) && !(tag == xen::OwnerTag::Self(template_))) memshr_child_->Forget();
  memshr_child_.reset();
  watchdog_.Disarm(b);
}

bool XenBackend::AfterForkInChild(Failure* why) {
  // The parent's domain stays the parent's to end (and its server, mappings, handles).
  uint64_t ram_size = memory_.size();
  if (memshr_child_) return AdoptMemshrChild(ram_size, why);
  uint32_t parent = domain_->id();
  if (!LeaveParentsDomain(why) || !CreateDomain(ram_size, why)) return false;
  if (!xen::CopyRam(&xen_, parent, domain_->id(), ram_size, why)) return false;
  fork_gate_.OpenInChild();  // the parent's domain may run on
  // The regions the child keeps (shared-memory regions; the core dropped its channels
  // before this) into the new domain: the copy of RAM has no window.
  return MapKeptRegions(why) && StartIoreqServer(why);
}

bool XenBackend::ForkByMemshr(Failure* why) {
  // The parent's domain P is paused (SaveState) and none of its RAM is mapped in dom0.
  uint32_t p = domain_->id();
  // Channel and region pages are direct mappings, not RAM: a fork of P does not see them,
  // and P, a template from now on, must not keep frames the watchdog may let go. Taken
  // out of P here, put into A below (and the child puts the ones it keeps into B).
  for (const auto& [index, region] : regions_) {
    xen::UnmapFrames(xen_.xc, p, region.gpa / PVM_PAGE_SIZE, region.mfns);
    watchdog_.Release(p, index);
  }
  xen::MemshrClone clone;
  if (!xen::MakeMemshrClone(&xen_, &watchdog_, p, template_, memory_.size(), &clone, why)) {
    Failure remap;
    if (!MapKeptRegions(&remap)) return Fail(why, remap.code, remap.sys_errno, "xen: fork: %s", remap.message.c_str());
    if (why->sys_errno != ENOSYS) return false;
    memshr_ = 0;  // no memory sharing in this hypervisor: the copying fork, now and later
    return true;
  }
  // P is a template now: its server goes (its vCPU never runs again), this monitor drives A.
  ioreq_.reset();
  domain_->Forget();
  watchdog_.Disarm(p);
  domain_ = std::move(clone.a);
  memshr_child_ = std::move(clone.b);
  template_ = static_cast<uint16_t>(p);
  paused_ = true;  // a new domain starts paused
  memory_.SetWindowed(memory_.size(), domain_.get());
  fork_path_ = ctl::kForkMemshr;
  bool ok = rewind_blob_.empty() || xen::LoadDomainState(xen_.xc, domain_->id(), xen::XenSavedState(rewind_blob_), why);
  ok = ok && MapKeptRegions(why) && StartIoreqServer(why);
  if (!ok) {
    // The core refuses the fork: no child will take B (A stays this monitor's, as is).
    uint32_t b = memshr_child_->id();
    memshr_child_.reset();
    watchdog_.Disarm(b);
  }
  return ok;
}

bool XenBackend::AdoptMemshrChild(uint64_t ram_size, Failure* why) {
  uint32_t b = memshr_child_->id();
  memshr_child_->Forget();
  memshr_child_.reset();
  if (!LeaveParentsDomain(why)) return false;  // A is the parent's
  domain_ = std::make_unique<xen::XenDomain>(&xen_);
  domain_->Adopt(b, ram_size);
  owner_pid_ = getpid();
  // Armed before it carries our tag: until then the parent's monitor destroys it if we die.
  watchdog_.Arm(b);
  if (!xen::Retag(xen_.xc, b, xen::OwnerTag::Self(template_))) {
    domain_->Forget();
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: fork: taking the child's domain");
  }
  memory_.SetWindowed(ram_size, domain_.get());
  fork_gate_.OpenInChild();  // the parent may run on
  // The regions the child keeps (shared-memory regions; the core dropped its channels
  // before this): B has no window of them (ForkByMemshr took them out of P first).
  return MapKeptRegions(why) && StartIoreqServer(why);
}

}  // namespace pvm::monitor
