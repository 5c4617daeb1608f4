// Who owns a domain, written in its 16-byte domain handle: "pvm" and a kind byte, the
// owning monitor's pid, its start time (pids are reused; 48 bits) and the id of the
// template the domain is a memshr fork of (0: none). Nothing in Xen ties a domain's life
// to a dom0 process, so the tag is how a later monitor finds domains whose monitor is gone
// (Sweep), and how any monitor finds templates no domain is a fork of any more (Collect).
// A template (kind 'T': a frozen parent of memshr forks, memshr_fork.h) has no owner.
#pragma once

#include <cstdint>

extern "C" {
#include <xenctrl.h>
}

namespace pvm::monitor::xen {

struct OwnerTag {
  uint32_t pid = 0;
  uint64_t start = 0;  // /proc/<pid>/stat field 22: clock ticks since boot (48 bits kept)
  uint16_t parent = 0;  // the template this domain is a memshr fork of; 0: none
  bool is_template = false;

  static OwnerTag Self(uint16_t parent = 0);
  // A frozen template that is itself a fork of `parent` (0: of none).
  static OwnerTag Template(uint16_t parent);
  void Write(xen_domain_handle_t handle) const;
  // False: not a pvm domain.
  static bool Read(const xen_domain_handle_t handle, OwnerTag* out);
  bool Alive() const;
  // Same owner (templates have none).
  bool operator==(const OwnerTag& o) const { return !is_template && !o.is_template && pid == o.pid && start == o.start; }
};

// xc_domain_sethandle with `tag`.
bool Retag(xc_interface* xc, uint32_t domid, const OwnerTag& tag);
// The tag of domain `domid`; false: no such domain (or dying), or not a pvm domain.
bool TagOf(xc_interface* xc, uint32_t domid, OwnerTag* out);

// Destroys every template that no living domain is a fork of, until none is left (a
// chain of templates goes from its newest end); returns how many. Run wherever a domain
// ends (the backend, its watchdog, the sweep): a template never gains a fork once made,
// so one that has none now is garbage for good.
int CollectTemplates(xc_interface* xc);

// Destroys every pvm-tagged domain whose owner no longer runs (a monitor and its watchdog
// both SIGKILLed), then the templates left without forks; returns how many. Every monitor
// does it when it prepares.
int SweepOrphans(xc_interface* xc);

}  // namespace pvm::monitor::xen
