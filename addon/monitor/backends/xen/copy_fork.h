// The copying fork of a pVM on xen (issue 19's path for a hypervisor without memory
// sharing, e.g. Debian's stock one): the core fork(2)s the monitor (fork.cc); the child
// monitor opens Xen handles of its own (libxenctrl's are not to be used across fork(2)),
// makes a domain of the same shape, copies the parent's RAM into it while the parent's
// domain stays paused, and loads the parent's HVM context (SaveState/RestoreState). The
// parent's monitor waits until the RAM is copied (CopyForkGate) and then runs on.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "monitor/backend.h"
#include "monitor/backends/xen/xen_libs.h"
#include "monitor/failure.h"

namespace pvm::monitor::xen {

// The vCPU state a fork hands over: the domain's whole HVM context blob (CPU, LAPIC,
// MTRR, FPU/XSAVE records ...), which xc_domain_hvm_setcontext loads into another domain.
class XenSavedState final : public SavedState {
 public:
  explicit XenSavedState(std::vector<uint8_t> blob) : blob_(std::move(blob)) {}
  void Serialize(std::vector<uint8_t>* out) const override { *out = blob_; }
  const std::vector<uint8_t>& blob() const { return blob_; }

 private:
  std::vector<uint8_t> blob_;
};

// The domain's context, paused. `rewind_port_write`: the vCPU has handed a port write
// to the ioreq server that nobody took yet (a host fork caught it there); Xen moved rip
// past the `out` already, so the clone's rip goes back over it and the clone makes the
// request again itself (the parent's stays pending for its own monitor).
std::unique_ptr<XenSavedState> SaveDomainState(xc_interface* xc, uint32_t domid, bool rewind_port_write, Failure* why);
bool LoadDomainState(xc_interface* xc, uint32_t domid, const XenSavedState& state, Failure* why);

// Copies guest RAM [0, bytes) of domain `from` into domain `to` (populated already),
// through mappings of its own: 8 MiB of each side at a time (fewer map hypercalls than 1 MiB: ~15% off a 64 MiB fork under TCG), the parent's read-only.
bool CopyRam(XenHandles* xen, uint32_t from, uint32_t to, uint64_t bytes, Failure* why);

// XenHandles::Open, noting the fds it opened (those not open before it; the monitor is
// single-threaded), so that a forked monitor can close them (ForgetInheritedHandles).
bool OpenHandles(XenHandles* xen, std::vector<int>* fds, Failure* why);

// In a monitor just forked: lets go of the parent's Xen handles without a call through
// them (their buffers and mappings did not come across fork(2)): their fds are closed
// and the handles forgotten, so that OpenHandles makes new ones.
void ForgetInheritedHandles(XenHandles* xen, std::vector<int>* fds);

// Holds the parent's monitor until the child has copied the RAM: a socket pair the child
// writes one byte to (or closes, by dying).
class CopyForkGate {
 public:
  ~CopyForkGate() { Close(); }
  // Before fork(2).
  bool Open(Failure* why);
  // The parent: waits for the child's word (or its end), then closes both ends.
  void WaitInParent();
  // The child: the parent may run on.
  void OpenInChild();
  bool armed() const { return fds_[0] >= 0; }

 private:
  void Close();
  int fds_[2] = {-1, -1};
};

}  // namespace pvm::monitor::xen
