#include "monitor/ready.h"

#include <unistd.h>

#include <cstdio>

#include "monitor/clock.h"

namespace pvm::monitor {

void SendReady(Monitor* m, uint64_t monitor_start_ns) {
  m->stats.vm_ready_ns = MonotonicNs();
  ctl::Ready ready{};
  ready.pid = static_cast<uint64_t>(getpid());
  ready.monitor_start_ns = monitor_start_ns;
  ready.vm_ready_ns = m->stats.vm_ready_ns;
  snprintf(ready.backend, sizeof ready.backend, "%s", m->backend->name());
  ready.backend_flags = m->backend->flags();  // backend-specific (kvm: its software flavour)
  ready.image_flags = m->linux_program ? ctl::kReadyLinux : 0;
  m->control.SendReady(ready);
}

}  // namespace pvm::monitor
