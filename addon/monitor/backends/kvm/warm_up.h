// A pooled monitor's warm-up on kvm (Backend::WarmUp).
#pragma once

#include "monitor/backend.h"

namespace pvm::monitor {

// Runs warm_up_stub.S over the pages a small guest touches first. `backend` has RAM
// and the entry control state set; RAM is all zero again afterwards.
bool WarmUpKvm(Backend* backend, Failure* why);

}  // namespace pvm::monitor
