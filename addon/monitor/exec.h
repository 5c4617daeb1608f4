// exec: replacing a pVM's image in place (hypercalls/abi.json EXEC; Pvm.exec in Node).
// Everything that can fail is done on the side (new RAM, image loaded and boot data
// written into it) before anything of the old image is touched; then RAM is swapped, the
// vCPU put at the new entry, and the pVM keeps its id, family, channels and regions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "monitor/monitor.h"

namespace pvm::monitor {

struct ExecOutcome {
  int64_t error = 0;      // 0, or -PVM_Exxx; then the old image runs on
  ctl::ErrorCode code{};  // when error != 0
  std::string why;        // when error != 0
  bool ends_pvm = false;  // failed past the point of no return: the pVM cannot go on
  bool image_given = false;  // a guest EXEC the host gave an image for: it hears how it went
};

// At an exit. Takes image_fd. ram_size 0 keeps the current size; args is the new argv.
// On success the vCPU is at the new image's entry: the exit must not be completed.
ExecOutcome ExecPvm(Monitor* m, int image_fd, uint64_t ram_size, const std::vector<std::string>& args);

// The EXEC hypercall: reads path and argv from the guest, asks the host for the image,
// then ExecPvm. Bad pointers and the host's refusal are errors for the guest.
ExecOutcome GuestExec(Monitor* m, const VcpuExit& exit);

}  // namespace pvm::monitor
