// From a started monitor to a vCPU at its image's first instruction: the backend made
// ahead of the Boot message (a pooled monitor also gets RAM and warms up), then Boot.
#pragma once

#include "monitor/control_channel.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

// Before Boot arrives: the VM without RAM, and for a pooled monitor (prepare_ram) RAM
// with its page tables, the signals and a warmed-up vCPU. A failure is reported when
// Boot comes, like any boot failure.
bool PrepareAhead(Monitor* m, Failure* why);

// Everything from the Boot message to a vCPU at its first instruction.
bool Boot(const BootRequest& request, Monitor* m, Failure* why);

}  // namespace pvm::monitor
