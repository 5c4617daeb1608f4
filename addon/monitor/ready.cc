#include "monitor/ready.h"

#include <unistd.h>

#include "monitor/clock.h"

namespace pvm::monitor {

void SendReady(Monitor* m, uint64_t monitor_start_ns) {
  m->stats.vm_ready_ns = MonotonicNs();
  ctl::Ready ready{};
  ready.pid = static_cast<uint64_t>(getpid());
  ready.monitor_start_ns = monitor_start_ns;
  ready.vm_ready_ns = m->stats.vm_ready_ns;
  // The backend's flags (kvm: bit 0 = its software flavour). The field keeps its old
  // name until the control protocol renames it (addon/common/control.h).
  ready.kvm_pvm = m->backend->flags();
  m->control.SendReady(ready);
}

}  // namespace pvm::monitor
