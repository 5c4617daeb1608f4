// Can this process run pVMs on Xen? Compiled into the addon (Host.open asks before any
// monitor starts), without Xen's libraries: the monitor links those, the addon need not.
#pragma once

#include "common/backend_probe.h"

namespace pvm::xen {

// Ok in a privileged dom0: /dev/xen/privcmd opens read-write and /proc/xen/capabilities
// says control_d (xenfs mounted). info: { privcmd: path }.
BackendProbe Probe();

}  // namespace pvm::xen
