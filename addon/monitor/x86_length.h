// A length decoder for x86-64 (64-bit mode): how many bytes the instruction at `code`
// takes, for the instructions compilers emit into static Linux programs (legacy, 0F,
// 0F38, 0F3A maps; VEX; EVEX; x87). Used to find `syscall` sites by a linear sweep
// (linux_rewrite.h), so it need not know what an instruction does, only where it ends.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pvm::monitor {

// The length of the instruction at code[0..avail), or 0 if the bytes are not one this
// decoder knows (invalid in 64-bit mode, or cut off by `avail`).
size_t X86Length(const uint8_t* code, size_t avail);

}  // namespace pvm::monitor
