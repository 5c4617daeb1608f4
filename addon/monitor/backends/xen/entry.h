// The xen backend's line in the registry (backends/registry.cc).
#pragma once

#include "monitor/backends/registry.h"

namespace pvm::monitor {

BackendEntry XenBackendEntry();

}  // namespace pvm::monitor
