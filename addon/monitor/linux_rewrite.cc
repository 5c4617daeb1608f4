#include "monitor/linux_rewrite.h"

#include <climits>
#include <cstdint>
#include <cstring>
#include <map>

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

namespace {

// A stub for `mov $N, %eax; syscall` (see linux_rewrite.h): reached by `call stub` from
// the mov's 5 bytes, it leaves what `syscall` would have (rax = N, rcx = the instruction
// after the syscall, r11 = rflags, rsp as it was; no flag changed on the way) and jumps
// to the personality's syscall entry.
constexpr size_t kStubBytes = 24;
void PutStub(uint8_t* at, uint64_t gva, uint32_t nr, uint64_t syscall_entry) {
  static const uint8_t kBody[] = {
      0xb8, 0, 0, 0, 0,        // mov $nr, %eax
      0x59,                    // pop %rcx            (the call's return: the syscall)
      0x48, 0x8d, 0x49, 0x02,  // lea 2(%rcx), %rcx   (past it)
      0x9c,                    // pushfq
      0x41, 0x5b,              // pop %r11
      0xe9, 0, 0, 0, 0,        // jmp syscall_entry
  };
  std::memset(at, 0xcc, kStubBytes);
  std::memcpy(at, kBody, sizeof kBody);
  std::memcpy(at + 1, &nr, 4);
  int32_t rel = static_cast<int32_t>(static_cast<int64_t>(syscall_entry) - static_cast<int64_t>(gva + sizeof kBody));
  std::memcpy(at + 14, &rel, 4);
}

bool FitsRel32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

}  // namespace

RewriteCounts RewriteMovSites(std::span<uint8_t> ram, const LoadedImage& image, uint64_t stubs_gpa,
                              uint64_t stubs_size, uint64_t syscall_entry) {
  RewriteCounts total;
  std::map<uint32_t, uint64_t> stubs;  // nr -> its stub's address
  uint64_t used = 0;
  for (const TextRange& t : image.text) {
    std::span<uint8_t> code = ram.subspan(t.vaddr, t.length);
    size_t at = 0, prev = SIZE_MAX, prev_len = 0;
    while (at < code.size()) {
      size_t n = X86Length(code.data() + at, code.size() - at);
      if (n == 0) {
        total.undecoded++;
        at++;
        prev = SIZE_MAX;
        continue;
      }
      if (n == 2 && code[at] == 0x0f && code[at + 1] == 0x05 && prev != SIZE_MAX && prev_len == 5 &&
          prev + 5 == at && code[prev] == 0xb8) {
        uint32_t nr;
        std::memcpy(&nr, &code[prev + 1], 4);
        auto it = stubs.find(nr);
        if (it == stubs.end() && used + kStubBytes <= stubs_size) {
          uint64_t gva = stubs_gpa + used;
          PutStub(ram.data() + gva, gva, nr, syscall_entry);
          used += kStubBytes;
          it = stubs.emplace(nr, gva).first;
        }
        int64_t rel = it == stubs.end() ? INT64_MAX
                                        : static_cast<int64_t>(it->second) - static_cast<int64_t>(t.vaddr + prev + 5);
        if (FitsRel32(rel)) {
          code[prev] = 0xe8;  // call stub (the syscall stays: a jump to it still traps)
          int32_t r = static_cast<int32_t>(rel);
          std::memcpy(&code[prev + 1], &r, 4);
          total.sites++;
        }
      }
      prev = at;
      prev_len = n;
      at += n;
    }
  }
  return total;
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
