#include "monitor/linux_rewrite.h"

#include <cstring>

#include "monitor/x86_length.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

constexpr uint64_t kSledBytes = 512;      // syscall numbers are below this
constexpr uint64_t kPresent = 1, kUser = 1ull << 2, kAccessed = 1ull << 5;  // not writable: a null write faults

// jmp rel32 at page[at] (= VA at) to `target`.
void PutJump(uint8_t* page, uint64_t at, uint64_t target) {
  page[at] = 0xe9;
  int32_t rel = static_cast<int32_t>(static_cast<int64_t>(target) - static_cast<int64_t>(at + 5));
  std::memcpy(page + at + 1, &rel, sizeof rel);
}

}  // namespace

RewriteCounts SweepSyscalls(std::span<uint8_t> code, bool rewrite) {
  RewriteCounts c;
  size_t at = 0;
  while (at < code.size()) {
    size_t n = X86Length(code.data() + at, code.size() - at);
    if (n == 0) {  // data or an instruction unknown to the decoder: step one byte, resync
      c.undecoded++;
      at++;
      continue;
    }
    if (n == 2 && code[at] == 0x0f && code[at + 1] == 0x05) {
      c.sites++;
      if (rewrite) {
        code[at] = 0xff;      // call *%rax
        code[at + 1] = 0xd0;
      }
    }
    at += n;
  }
  return c;
}

RewriteCounts RewriteSites(std::span<uint8_t> ram, const LoadedImage& image) {
  RewriteCounts total;
  for (const TextRange& t : image.text) {
    RewriteCounts c = SweepSyscalls(ram.subspan(t.vaddr, t.length), true);
    total.sites += c.sites;
    total.undecoded += c.undecoded;
  }
  return total;
}

void BuildSled(uint8_t* page, uint64_t entry) {
  // Nops, a jmp rel32 to the entry at 512 (where every Linux syscall number slides to),
  // nops again and another jmp at the page's end, so a number in [519, 4091) (no Linux
  // syscall: ENOSYS) is served too. 512..518 land inside the first jmp and 4091 and up
  // outside the page: both crash the program (linux_rewrite.h).
  std::memset(page, 0x90, PVM_PAGE_SIZE);
  PutJump(page, kSledBytes, entry);
  PutJump(page, PVM_PAGE_SIZE - 5, entry);
}

RewriteCounts RewriteSyscalls(std::span<uint8_t> ram, const LoadedImage& image, uint64_t entry) {
  RewriteCounts total = RewriteSites(ram, image);
  BuildSled(ram.data(), entry);
  // VA 0 -> GPA 0, present, read-only, executable (boot_setup.cc leaves it unmapped).
  uint64_t pte = 0 | kPresent | kUser | kAccessed;
  std::memcpy(ram.data() + PVM_LOW_PT_GPA, &pte, sizeof pte);
  return total;
}

}  // namespace pvm::monitor
