// The backends built into this pvm, as the addon sees them: each one's probe (can it run
// here?), one line per backend in probes.cc, like registry.cc is for the monitor.
#pragma once

#include "common/backend_probe.h"

namespace pvm {

// The probe of backend `name`, or nullptr when it is not built into this pvm.
BackendProbe (*FindBackendProbe(const char* name))();

}  // namespace pvm
