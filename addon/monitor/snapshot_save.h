// pvm.snapshot(file): the monitor writes its pVM's state into the file the host opened
// (snapshot_file.h), as it was at a clean exit: the vCPU is paused to save its state and
// fork(2) the monitor; the forked writer writes the file from its copy-on-write RAM and
// reports. The host renames the file into place once it is written.
#pragma once

#include <cstdint>
#include <string>

#include "monitor/monitor.h"

namespace pvm::monitor {

// Writes the snapshot into fd (empty, open for writing; closed here) and reports it to the
// host (Snapshotted) with `tag`, from a forked writer (or here, paused, if fork fails).
// The pVM runs on whatever happens.
void ServeSnapshot(Monitor* m, uint64_t tag, int fd, const std::string& image);

}  // namespace pvm::monitor
