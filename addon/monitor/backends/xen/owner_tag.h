// Who owns a domain, written in its 16-byte domain handle: "pvm\0", the owning monitor's
// pid and its start time (pids are reused). Nothing in Xen ties a domain's life to a dom0
// process, so the tag is how a later monitor finds domains whose monitor is gone (Sweep).
#pragma once

#include <cstdint>

extern "C" {
#include <xenctrl.h>
}

namespace pvm::monitor::xen {

struct OwnerTag {
  uint32_t pid = 0;
  uint64_t start = 0;  // /proc/<pid>/stat field 22: clock ticks since boot

  static OwnerTag Self();
  void Write(xen_domain_handle_t handle) const;
  // False: not a pvm domain.
  static bool Read(const xen_domain_handle_t handle, OwnerTag* out);
  bool Alive() const;
  bool operator==(const OwnerTag& o) const { return pid == o.pid && start == o.start; }
};

// Destroys every pvm-tagged domain whose owner no longer runs (a monitor and its watchdog
// both SIGKILLed); returns how many. Every monitor does it when it prepares.
int SweepOrphans(xc_interface* xc);

}  // namespace pvm::monitor::xen
