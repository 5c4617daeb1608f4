// Reading the guest image the host opened for us into memory, for the ELF loader.
#pragma once

#include <cstdint>
#include <vector>

#include "monitor/failure.h"

namespace pvm::monitor {

// Reads all of the regular file `fd` (from offset 0, with pread). Files larger than
// max_bytes are refused (ImageTooLarge) before anything is read.
bool ReadImage(int fd, uint64_t max_bytes, std::vector<uint8_t>* out, Failure* why);

}  // namespace pvm::monitor
