// host.spawn({ snapshot }): a new monitor boots from a snapshot file (snapshot_file.h)
// instead of an image. Its RAM maps the file's stored pages copy-on-write (pVMs of one
// snapshot share them until they write), its vCPU is the saved one, and it is a fresh
// root pVM: new id, no parent, no channels, no children, fresh entropy and a new
// generation (unless spawned with uniqueClones: false).
#pragma once

#include <string>

#include "monitor/control_channel.h"
#include "monitor/monitor.h"

namespace pvm::monitor {

// RAM, vCPU and boot-info page from the snapshot in request.image_fd (m->identity is the
// new pVM's already). Sets m->ram_size. BadSnapshot (why->detail) for a file that cannot
// be loaded here.
bool LoadSnapshot(const BootRequest& request, Monitor* m, Failure* why);

}  // namespace pvm::monitor
