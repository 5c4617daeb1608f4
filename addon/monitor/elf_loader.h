// The pVM image loader: a static ELF64 x86-64 executable, checked strictly and copied
// into guest RAM. Pure functions over byte spans (no fds, no KVM) so they can be
// fuzzed on their own.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "monitor/failure.h"

namespace pvm::monitor {

// Whole pages of a read-only segment that hold exactly file bytes at the same page
// offset: the monitor may map the file there instead (pVMs of one image then share the
// page cache's pages; a guest write makes a private copy).
struct FilePages {
  uint64_t gpa = 0;     // page aligned
  uint64_t offset = 0;  // in the file, page aligned
  uint64_t length = 0;  // whole pages
};

struct LoadedImage {
  uint64_t entry = 0;
  uint64_t end = 0;  // highest vaddr + memsz over the PT_LOAD segments
  std::vector<FilePages> shareable;
};

// Checks every header of `image` against a guest RAM of ram.size() bytes, and only if
// all are good copies each PT_LOAD's file bytes to its vaddr (= guest-physical address).
// The rest of each segment (memsz - filesz) is left as it is: fresh guest RAM is zero
// and touching it would cost a page fault per page for nothing.
// Failures: BadImage (malformed or unsupported), ImageTooLarge (does not fit the RAM) or
// AbiMismatch (no pvm ABI note, or another version: abi_note.h).
bool LoadElf(std::span<const uint8_t> image, std::span<uint8_t> ram, LoadedImage* out, Failure* why);

}  // namespace pvm::monitor
