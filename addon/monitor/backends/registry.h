// The backends this monitor was built with (one CMake option each: PVM_BACKEND_<NAME>).
// Adding a backend: its folder backends/<name>/, one line in registry.cc, an option in
// CMakeLists.txt. The monitor picks one by `--backend=NAME` (default kvm).
#pragma once

#include <memory>
#include <span>

#include "monitor/backend.h"

namespace pvm::monitor {

struct BackendEntry {
  const char* name;
  // A new, unprepared backend.
  std::unique_ptr<Backend> (*create)();
  // System calls it makes once the monitor is confined, beyond the core's (seccomp.cc).
  std::span<const int> seccomp_additions;
};

// nullptr when `name` is unknown or was not built.
const BackendEntry* FindBackend(const char* name);
// Every built backend, for messages ("built: kvm").
std::span<const BackendEntry> BuiltBackends();

constexpr const char* kDefaultBackend = "kvm";

}  // namespace pvm::monitor
