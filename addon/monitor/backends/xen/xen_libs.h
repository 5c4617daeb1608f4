// Xen's dom0 libraries as the xen backend uses them (no libxl, no xenstore): the five
// handles a monitor opens once, before it is confined.
#pragma once

extern "C" {
#include <xencall.h>
#include <xenctrl.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
}

#include "monitor/failure.h"

namespace pvm::monitor::xen {

struct XenHandles {
  xc_interface* xc = nullptr;
  xendevicemodel_handle* dm = nullptr;
  xenforeignmemory_handle* fmem = nullptr;
  xenevtchn_handle* evtchn = nullptr;
  xencall_handle* call = nullptr;  // raw hypercalls: dom0's own grant table (xen_region.h)

  XenHandles() = default;
  ~XenHandles();
  XenHandles(const XenHandles&) = delete;
  XenHandles& operator=(const XenHandles&) = delete;

  // BackendUnavailable when this is not a privileged dom0 (no /dev/xen/privcmd).
  bool Open(Failure* why);
};

}  // namespace pvm::monitor::xen
