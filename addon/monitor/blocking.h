// What a blocked vCPU tells the world, and the test-only delays that widen race windows.
// Every place a monitor sleeps for something outside it (WAIT, WAITPID, an EXEC image
// from the host, a fork) records it in the shared registry first, so a hang explains
// itself in `pvm ps` and Pvm.activity.
#pragma once

#include <cstdint>

#include "common/registry.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

// This pVM is now doing `activity` (on: WAITPID's child; slots: WAIT's channel slots).
void SetActivity(Monitor* m, Activity activity, uint64_t on = 0, const uint32_t* slots = nullptr, uint32_t count = 0);

// Test-only (the stress harness): with PVM_TEST_RACE_DELAY_US=<max> in the monitor's
// environment, sleeps a random 0..max µs at each racy window -- between the guest's last
// look and the monitor's sleep, before the host's requests are served, around fork -- half
// of the time. Does nothing otherwise.
void ReadRaceDelayOption();
void RaceDelay();

}  // namespace pvm::monitor
