#include "monitor/backends/xen/xen_libs.h"

namespace pvm::monitor::xen {

XenHandles::~XenHandles() {
  if (call) xencall_close(call);
  if (evtchn) xenevtchn_close(evtchn);
  if (fmem) xenforeignmemory_close(fmem);
  if (dm) xendevicemodel_close(dm);
  if (xc) xc_interface_close(xc);
}

bool XenHandles::Open(Failure* why) {
  if (xc) return true;
  // No logger: libxenctrl would print its own errors on stderr; ours carry errno.
  xc = xc_interface_open(nullptr, nullptr, 0);
  if (!xc) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "xen: xc_interface_open (not dom0, or no /dev/xen/privcmd?)");
  dm = xendevicemodel_open(nullptr, 0);
  if (!dm) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "xen: xendevicemodel_open");
  fmem = xenforeignmemory_open(nullptr, 0);
  if (!fmem) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "xen: xenforeignmemory_open");
  evtchn = xenevtchn_open(nullptr, 0);
  if (!evtchn) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "xen: xenevtchn_open");
  call = xencall_open(nullptr, 0);
  if (!call) return FailErrno(why, ctl::ErrorCode::BackendUnavailable, "xen: xencall_open");
  return true;
}

}  // namespace pvm::monitor::xen
