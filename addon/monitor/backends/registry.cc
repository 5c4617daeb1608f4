#include "monitor/backends/registry.h"

#include <cstring>
#include <iterator>

#ifdef PVM_BACKEND_KVM
#include "monitor/backends/kvm/entry.h"
#endif
#ifdef PVM_BACKEND_PROCESS
#include "monitor/backends/process/entry.h"
#endif
#ifdef PVM_BACKEND_XEN
#include "monitor/backends/xen/entry.h"
#endif

namespace pvm::monitor {

namespace {

// One line per backend, guarded by its CMake option; the last entry only ends the table
// (so that it is never empty).
const BackendEntry kBackends[] = {
#ifdef PVM_BACKEND_KVM
    KvmBackendEntry(),
#endif
#ifdef PVM_BACKEND_PROCESS
    ProcessBackendEntry(),
#endif
#ifdef PVM_BACKEND_XEN
    XenBackendEntry(),
#endif
    BackendEntry{nullptr, nullptr, {}},
};

}  // namespace

std::span<const BackendEntry> BuiltBackends() { return {kBackends, std::size(kBackends) - 1}; }

const BackendEntry* FindBackend(const char* name) {
  for (const BackendEntry& e : BuiltBackends()) {
    if (std::strcmp(e.name, name) == 0) return &e;
  }
  return nullptr;
}

}  // namespace pvm::monitor
