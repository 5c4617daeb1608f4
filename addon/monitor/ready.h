// The Ready message, filled in one place for a spawned and a forked pVM alike.
#pragma once

#include <cstdint>

#include "monitor/monitor.h"

namespace pvm::monitor {

// Tells the host this process runs pVM m->identity, with the backend's flags.
void SendReady(Monitor* m, uint64_t monitor_start_ns);

}  // namespace pvm::monitor
