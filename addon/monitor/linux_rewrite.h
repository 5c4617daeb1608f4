// zpoline for static Linux programs: at load time every `syscall` (0f 05) that a linear
// sweep of the program's executable segments finds as an instruction becomes
// `call *%rax` (ff d0), and guest-virtual page 0 (mapped read-only, executable) holds
// 512 one-byte nops sliding into a jump to the personality's call entry. A syscall
// number is < 512, so the call lands in the sled; the personality serves it and returns
// to the instruction after the site with rax = the result, like the trap would. Sites
// the sweep misses keep trapping through LSTAR (the fallback). A number in [519, 4091) is
// served too (ENOSYS); 512..518, 4091 and up, or negative ones jump where no sled is and
// crash the program (Linux has no such call; a trapping site would get ENOSYS).
// PVM_LINUX_REWRITE=off in the monitor's environment turns the rewrite off. On process the
// sled is a page the backend maps at address 0 itself (Backend::SetLinuxSyscalls), and
// where it cannot nothing is rewritten: every site traps (the seccomp filter's SIGSYS).
#pragma once

#include <cstdint>
#include <span>

#include "monitor/elf_loader.h"

namespace pvm::monitor {

struct RewriteCounts {
  uint64_t sites = 0;        // syscalls rewritten
  uint64_t undecoded = 0;    // bytes the sweep could not decode (skipped one at a time)
};

// The sled (PVM_PAGE_SIZE bytes at `page`) for virtual address 0, jumping to `entry`.
void BuildSled(uint8_t* page, uint64_t entry);

// Rewrites the sites in `image`'s executable segments (already in `ram`), nothing else:
// where the backend maps the sled itself (process: Backend::SetLinuxSyscalls).
RewriteCounts RewriteSites(std::span<uint8_t> ram, const LoadedImage& image);

// Where there is no sled (process, address 0 refused by the host): each
// `mov $N, %eax; syscall` (b8 imm32 0f 05: most of glibc's sites, some of musl's) gets
// its mov made `call stub_N`; the stub (24 bytes, one per number, written into
// [stubs_gpa, +stubs_size) of `ram`) sets eax, pops the return address and steps it
// past the syscall into rcx, puts rflags in r11 and jumps to `syscall_entry`, so the
// site is a call as with the sled. The `syscall` itself stays: a jump straight to it
// still traps (served the slow way). Other sites keep trapping. Counts the rewritten.
RewriteCounts RewriteMovSites(std::span<uint8_t> ram, const LoadedImage& image, uint64_t stubs_gpa,
                              uint64_t stubs_size, uint64_t syscall_entry);

// kvm: rewrites the sites in `image`'s executable segments (already in `ram`), and writes
// the sled at GPA 0 jumping to `entry` (the personality's call entry, below 2 GiB) and
// maps VA 0 to it. The page tables must be built (SetUpBoot).
RewriteCounts RewriteSyscalls(std::span<uint8_t> ram, const LoadedImage& image, uint64_t entry);

// The sweep alone over `code` (loaded at `vaddr`): rewrites in place if `rewrite`.
RewriteCounts SweepSyscalls(std::span<uint8_t> code, bool rewrite);

}  // namespace pvm::monitor
