// The image's pvm ABI note (abi.json "abiNote"): which ABI version an image was built
// for. Pure, over the file's bytes, like the ELF loader that calls it.
#pragma once

#include <elf.h>

#include <cstdint>
#include <span>

#include "monitor/failure.h"

namespace pvm::monitor {

// Looks through the PT_NOTE segments of `image` (whose header `eh` and program header
// table were checked already) for the note named "pvm" of the ABI type. AbiMismatch
// if there is none or it names a version other than PVM_ABI_VERSION.
bool CheckAbiNote(std::span<const uint8_t> image, const Elf64_Ehdr& eh, Failure* why);

}  // namespace pvm::monitor
