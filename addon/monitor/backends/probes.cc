#include "monitor/backends/probes.h"

#include <cstring>

#ifdef PVM_BACKEND_KVM
#include "monitor/backends/kvm/probe.h"
#endif
#ifdef PVM_BACKEND_PROCESS
#include "monitor/backends/process/probe.h"
#endif
#ifdef PVM_BACKEND_XEN
#include "monitor/backends/xen/probe.h"
#endif

namespace pvm {
namespace {

struct ProbeEntry {
  const char* name;
  BackendProbe (*probe)();
};
constexpr ProbeEntry kProbes[] = {
#ifdef PVM_BACKEND_KVM
    {"kvm", kvm::Probe},
#endif
#ifdef PVM_BACKEND_PROCESS
    {"process", process::Probe},
#endif
#ifdef PVM_BACKEND_XEN
    {"xen", xen::Probe},
#endif
    {nullptr, nullptr},  // keeps the table non-empty when no backend is built
};

}  // namespace

BackendProbe (*FindBackendProbe(const char* name))() {
  for (const ProbeEntry& e : kProbes) {
    if (e.name && std::strcmp(e.name, name) == 0) return e.probe;
  }
  return nullptr;
}

}  // namespace pvm
