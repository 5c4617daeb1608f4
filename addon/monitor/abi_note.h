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
// Whether the image has a pvm ABI note: of this version, of another, or none (a Linux program).
enum class AbiNote { This, Other, None };
AbiNote FindAbiNote(std::span<const uint8_t> image, const Elf64_Ehdr& eh);

bool CheckAbiNote(std::span<const uint8_t> image, const Elf64_Ehdr& eh, Failure* why);

}  // namespace pvm::monitor
