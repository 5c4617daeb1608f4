// The running pVM: the vCPU loop (run, drain the console, handle the exit through the
// hypercall table), serving the host's requests between exits, and the end.
#pragma once

#include "monitor/monitor.h"

namespace pvm::monitor {

// Until the pVM ends; never returns (a forked child carries on in it as the child).
[[noreturn]] void RunGuest(Monitor* m);

// The pVM is over: report it, close its channel ends, give back the VM and its RAM,
// then stay only as long as forked children live (they die with this process).
[[noreturn]] void Finish(Monitor* m, const ctl::Exit& end);

}  // namespace pvm::monitor
