// pvm.snapshot(file): the monitor writes its pVM's state into the file the host opened
// (snapshot_file.h), at a clean exit, with the vCPU paused meanwhile. The host renames the
// file into place once this says it is written.
#pragma once

#include <cstdint>
#include <string>

#include "monitor/monitor.h"

namespace pvm::monitor {

// Writes the snapshot into fd (empty, open for writing; closed here) and reports it to the
// host (Snapshotted) with `tag`. The pVM runs on whatever happens.
void ServeSnapshot(Monitor* m, uint64_t tag, int fd, const std::string& image);

}  // namespace pvm::monitor
