// What a backend answers when the host asks whether it can run here (Host.open).
// Backend-neutral: each backend's probe (addon/monitor/backends/<name>/probe.cc) fills
// one, the addon hands it to JS as { ok, errno, message?, info? } (lib/backends.ts).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace pvm {

struct BackendProbe {
  bool ok = false;
  int err = 0;          // errno behind a failure, 0 if none applies
  std::string message;  // why not (empty when ok)
  // Backend-specific facts, flat: they become the probe's `info` object.
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<std::pair<std::string, int64_t>> numbers;
};

// A probe that says no: why, and the errno behind it ("what: strerror(err)"; 0: none).
inline BackendProbe ProbeFailure(const std::string& what, int err) {
  BackendProbe p;
  p.err = err;
  p.message = err ? what + ": " + std::strerror(err) : what;
  return p;
}

}  // namespace pvm
