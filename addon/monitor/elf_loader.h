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

// The file bytes of an executable segment, at vaddr (= guest-physical address).
struct TextRange {
  uint64_t vaddr = 0;
  uint64_t length = 0;
};

struct LoadedImage {
  uint64_t entry = 0;
  uint64_t end = 0;  // highest vaddr + memsz over the PT_LOAD segments
  std::vector<FilePages> shareable;
  // No pvm ABI note: a static Linux program, run with the Linux personality
  // (linux_personality.h) on a backend that can.
  bool linux_program = false;
  uint64_t phdr = 0;   // guest address of the program headers (AT_PHDR), 0 if not loaded
  uint64_t phnum = 0;  // AT_PHNUM
  std::vector<TextRange> text;  // PF_X segments' file bytes (a Linux program's are rewritten:
                                // linux_rewrite.h; so they are not shared with the file)
};

// Checks every header of `image` against a guest RAM of ram.size() bytes, and only if
// all are good copies each PT_LOAD's file bytes to its vaddr (= guest-physical address).
// The rest of each segment (memsz - filesz) is left as it is: fresh guest RAM is zero
// and touching it would cost a page fault per page for nothing.
// A static-pie (ET_DYN, no PT_INTERP, no pvm ABI note) is a Linux program loaded with its
// lowest segment at 4 MiB: entry, phdr and text are where it went (AT_BASE stays 0, as
// Linux gives a program with no interpreter; its libc relocates itself). Its PT_LOADs
// must ascend without overlapping, aligned to powers of two no larger than 4 MiB, and
// span less than the largest guest RAM, or it is BadImage with the reason.
// Failures: BadImage (malformed or unsupported, or dynamically linked: PT_INTERP),
// ImageTooLarge (does not fit the RAM) or AbiMismatch (a pvm ABI note of another version:
// abi_note.h). An image with no pvm ABI note loads as a static Linux program (linux_program).
bool LoadElf(std::span<const uint8_t> image, std::span<uint8_t> ram, LoadedImage* out, Failure* why);

}  // namespace pvm::monitor
