// The process backend's line in the registry (backends/registry.cc).
#pragma once

#include "monitor/backends/registry.h"

namespace pvm::monitor {

BackendEntry ProcessBackendEntry();

}  // namespace pvm::monitor
