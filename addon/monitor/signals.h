// The monitor's signals: the kick (the host wrote to the control socket), TERM (end the
// guest gracefully) and pVM signals (family KILL, queued as a real-time signal). All
// blocked in the monitor; the backend lets them in only while the guest runs
// (Backend::SetKickSignals), and blocking hypercalls wait with them let in.
#pragma once

#include <signal.h>

#include <cstdint>

#include "common/control.h"
#include "monitor/failure.h"

namespace pvm::monitor {

// The signals that may interrupt the guest (blocked everywhere else in the monitor).
sigset_t KickSignals();
// Installs the handlers and blocks KickSignals().
bool SetUpSignals(Failure* why);
// A kick interrupts the vCPU run but stays pending (blocked again once the run returns):
// take it, or every later run would return at once. Notes TERM and pVM signals.
void TakeKickSignals();
// Pending pVM signals arrive in a signal handler: this collects them.
uint64_t TakeArrivedSignals();
// True once the pVM has been told to end (SIGTERM, or a family KILL with TERM/KILL): a
// blocked hypercall returns at once, and the vCPU loop ends the pVM.
bool TerminateRequested();
// Ends the pVM as TerminateRequested() does, with pVM signal `sig` as its code (a family
// KILL of a signal the guest does not catch; see CollectSignals).
void RequestTerminate(int sig);
// The Exit for a pVM ended that way.
ctl::Exit Terminated();

}  // namespace pvm::monitor
