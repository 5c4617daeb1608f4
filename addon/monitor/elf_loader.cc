#include "monitor/elf_loader.h"

#include <algorithm>

#include <elf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

#include "monitor/abi_note.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

using ull = unsigned long long;

const char* MachineName(uint16_t machine) {
  switch (machine) {
    case EM_386: return "i386";
    case EM_ARM: return "arm";
    case EM_X86_64: return "x86-64";
    case EM_AARCH64: return "aarch64";
    case EM_RISCV: return "riscv";
    case EM_PPC64: return "ppc64";
    case EM_S390: return "s390";
    default: return "unknown";
  }
}

bool BadImage(Failure* why, const char* format, ...) __attribute__((format(printf, 2, 3)));
bool BadImage(Failure* why, const char* format, ...) {
  char text[256];
  va_list ap;
  va_start(ap, format);
  vsnprintf(text, sizeof text, format, ap);
  va_end(ap);
  return Fail(why, ctl::ErrorCode::BadImage, 0, "%s", text);
}

bool CheckHeader(std::span<const uint8_t> image, Elf64_Ehdr* eh, Failure* why) {
  if (image.size() < SELFMAG || std::memcmp(image.data(), ELFMAG, SELFMAG) != 0) {
    return BadImage(why, image.empty() ? "not an ELF file (empty)" : "not an ELF file");
  }
  if (image.size() < EI_NIDENT) return BadImage(why, "truncated: ELF identification past end of file");
  if (image[EI_CLASS] != ELFCLASS64) {
    return BadImage(why, "ELF class %d, need 64-bit", image[EI_CLASS] == ELFCLASS32 ? 32 : image[EI_CLASS]);
  }
  if (image[EI_DATA] != ELFDATA2LSB) return BadImage(why, "ELF data encoding %d, need little-endian", image[EI_DATA]);
  if (image[EI_VERSION] != EV_CURRENT) return BadImage(why, "ELF version %d, need %d", image[EI_VERSION], EV_CURRENT);
  if (image.size() < sizeof(Elf64_Ehdr)) return BadImage(why, "truncated: ELF header past end of file");
  std::memcpy(eh, image.data(), sizeof *eh);
  if (eh->e_machine != EM_X86_64) {
    return BadImage(why, "machine %u (%s), need x86-64", eh->e_machine, MachineName(eh->e_machine));
  }
  if (eh->e_version != EV_CURRENT) return BadImage(why, "ELF version %u, need %d", eh->e_version, EV_CURRENT);
  if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
    return BadImage(why, "program header entry size %u, need %zu", eh->e_phentsize, sizeof(Elf64_Phdr));
  }
  if (eh->e_phnum == 0) return BadImage(why, "no program headers");
  if (eh->e_phnum == PN_XNUM) return BadImage(why, "too many program headers");
  // phnum < 0xffff and phentsize == 56: the product cannot overflow.
  uint64_t table = static_cast<uint64_t>(eh->e_phnum) * sizeof(Elf64_Phdr);
  if (eh->e_phoff > image.size() || table > image.size() - eh->e_phoff) {
    return BadImage(why, "truncated: program header table past end of file");
  }
  return true;
}

// A program built for Linux with a dynamic loader cannot run: say so before the type
// check (such programs are ET_DYN PIEs, which would read as "shared object").
bool CheckStatic(std::span<const uint8_t> image, const Elf64_Ehdr& eh, Failure* why) {
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + static_cast<uint64_t>(i) * sizeof ph, sizeof ph);
    if (ph.p_type != PT_INTERP) continue;
    std::string interp;
    if (ph.p_offset < image.size() && ph.p_filesz <= image.size() - ph.p_offset && ph.p_filesz < 256) {
      interp.assign(reinterpret_cast<const char*>(image.data() + ph.p_offset), ph.p_filesz);
      interp = interp.c_str();  // up to its NUL
    }
    return BadImage(why,
                    "dynamically linked: has an interpreter (PT_INTERP %s); pvm runs static programs only, "
                    "link it with -static",
                    interp.empty() ? "?" : interp.c_str());
  }
  // ET_DYN without an interpreter: a static-pie Linux program (no pvm note; checked by
  // the caller), loaded at a base of our choosing.
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
    return BadImage(why, "ELF type %u (%s), need a static executable (ET_EXEC)", eh.e_type,
                    eh.e_type == ET_REL ? "relocatable object" : "other");
  }
  return true;
}

// Where a static-pie's lowest segment goes: above the personality (hypercalls/linux/,
// below 2 MiB) where an ET_EXEC Linux program usually sits.
constexpr uint64_t kPieBase = 0x400000;

// A static-pie (ET_DYN): the bias added to every address of it, so that its lowest
// PT_LOAD starts at kPieBase with every segment's alignment kept. Its PT_LOADs must be
// in ascending order and not overlap (as the ELF spec asks; Linux maps them so).
bool PieBias(std::span<const uint8_t> image, const Elf64_Ehdr& eh, uint64_t* bias, Failure* why) {
  uint64_t lo = UINT64_MAX, prev_end = 0, align = PVM_PAGE_SIZE;
  unsigned prev = 0;
  bool any = false;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + static_cast<uint64_t>(i) * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    if (ph.p_align > 1 && (ph.p_align & (ph.p_align - 1)) != 0) {
      return BadImage(why, "static-pie: segment %u alignment 0x%llx is not a power of two", i, (ull)ph.p_align);
    }
    if (ph.p_align > kPieBase) {
      return BadImage(why, "static-pie: segment %u alignment 0x%llx is larger than 0x%llx", i, (ull)ph.p_align,
                      (ull)kPieBase);
    }
    if (ph.p_align > 1 && ph.p_vaddr % ph.p_align != ph.p_offset % ph.p_align) {
      return BadImage(why, "static-pie: segment %u address 0x%llx and offset 0x%llx disagree modulo its alignment", i,
                      (ull)ph.p_vaddr, (ull)ph.p_offset);
    }
    if (ph.p_memsz > PVM_MAX_RAM || ph.p_vaddr > PVM_MAX_RAM - ph.p_memsz) {
      return BadImage(why, "static-pie: segment %u at 0x%llx+0x%llx is beyond any guest RAM (%s)", i, (ull)ph.p_vaddr,
                      (ull)ph.p_memsz, SizeText(PVM_MAX_RAM).c_str());
    }
    if (any && ph.p_vaddr < prev_end) {
      return BadImage(why, "static-pie: segment %u at 0x%llx overlaps or precedes segment %u (ends at 0x%llx)", i,
                      (ull)ph.p_vaddr, prev, (ull)prev_end);
    }
    if (ph.p_align > align) align = ph.p_align;
    if (!any) lo = ph.p_vaddr;
    any = true;
    prev = i;
    prev_end = ph.p_vaddr + ph.p_memsz;
  }
  if (!any) return BadImage(why, "no loadable segments (PT_LOAD)");
  if (prev_end - (lo & ~(align - 1)) > PVM_MAX_RAM - kPieBase) {
    return BadImage(why, "static-pie: its segments span 0x%llx bytes, more than any guest RAM holds (%s)",
                    (ull)(prev_end - lo), SizeText(PVM_MAX_RAM).c_str());
  }
  *bias = kPieBase - (lo & ~(align - 1));  // kPieBase is a multiple of align: so is the bias
  return true;
}

// AT_PHDR: where the program headers are in guest memory (PT_PHDR, else the PT_LOAD
// whose file bytes hold them), 0 if no segment loads them.
uint64_t PhdrAddress(std::span<const uint8_t> image, const Elf64_Ehdr& eh) {
  uint64_t table = static_cast<uint64_t>(eh.e_phnum) * sizeof(Elf64_Phdr);
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + static_cast<uint64_t>(i) * sizeof ph, sizeof ph);
    if (ph.p_type == PT_PHDR) return ph.p_vaddr;
  }
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + static_cast<uint64_t>(i) * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD && eh.e_phoff >= ph.p_offset && eh.e_phoff - ph.p_offset <= ph.p_filesz &&
        table <= ph.p_filesz - (eh.e_phoff - ph.p_offset)) {
      return ph.p_vaddr + (eh.e_phoff - ph.p_offset);
    }
  }
  return 0;
}

// Checks one PT_LOAD against the file and the RAM.
bool CheckLoad(const Elf64_Phdr& ph, unsigned index, uint64_t file_size, uint64_t ram_size, Failure* why) {
  if (ph.p_filesz > ph.p_memsz) {
    return BadImage(why, "segment %u: file size 0x%llx larger than memory size 0x%llx", index, (ull)ph.p_filesz,
                    (ull)ph.p_memsz);
  }
  if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset) {
    return BadImage(why, "truncated: segment %u (file bytes 0x%llx+0x%llx) past end of file (0x%llx bytes)", index,
                    (ull)ph.p_offset, (ull)ph.p_filesz, (ull)file_size);
  }
  if (ph.p_vaddr < PVM_IMAGE_BASE) {
    return BadImage(why, "segment %u at 0x%llx is below the image base 0x%llx", index, (ull)ph.p_vaddr,
                    (ull)PVM_IMAGE_BASE);
  }
  if (ph.p_memsz > UINT64_MAX - ph.p_vaddr) {
    return BadImage(why, "segment %u: address 0x%llx + size 0x%llx overflows", index, (ull)ph.p_vaddr,
                    (ull)ph.p_memsz);
  }
  // The top PVM_STACK_SIZE bytes of RAM are the stack; RAM >= PVM_MIN_RAM > stack size.
  uint64_t limit = ram_size - PVM_STACK_SIZE;
  if (ph.p_vaddr > limit || ph.p_memsz > limit - ph.p_vaddr) {
    return Fail(why, ctl::ErrorCode::ImageTooLarge, 0, "segment 0x%llx+0x%llx does not fit %s of guest RAM",
                (ull)ph.p_vaddr, (ull)ph.p_memsz, SizeText(ram_size).c_str());
  }
  return true;
}

// Program header i, with `bias` (a static-pie's load bias; 0 for ET_EXEC) added to its
// address: everything below sees where the segment goes in guest memory.
Elf64_Phdr ProgramHeader(std::span<const uint8_t> image, const Elf64_Ehdr& eh, unsigned i, uint64_t bias = 0) {
  Elf64_Phdr ph;  // memcpy: the table need not be aligned in the file
  std::memcpy(&ph, image.data() + eh.e_phoff + static_cast<uint64_t>(i) * sizeof ph, sizeof ph);
  ph.p_vaddr += bias;  // PieBias checked it cannot overflow
  return ph;
}

}  // namespace

bool LoadElf(std::span<const uint8_t> image, std::span<uint8_t> ram, LoadedImage* out, Failure* why) {
  if (ram.size() < PVM_MIN_RAM) return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM smaller than the minimum");
  Elf64_Ehdr eh;
  if (!CheckHeader(image, &eh, why) || !CheckStatic(image, eh, why)) return false;
  // A well-formed image for another pvm ABI: refused as such, before it runs. One with
  // no pvm note at all is a static Linux program (hypercalls/linux/ serves it).
  AbiNote note = FindAbiNote(image, eh);
  // ET_DYN: a static-pie Linux program (musl's rcrt1 and glibc relocate themselves from
  // PT_DYNAMIC, as under Linux with no interpreter); a pvm image is ET_EXEC.
  bool pie = eh.e_type == ET_DYN;
  if (pie && note != AbiNote::None) {
    return BadImage(why, "ELF type %u (shared object or PIE) with a pvm ABI note: a pvm image is ET_EXEC", eh.e_type);
  }
  uint64_t bias = 0;
  if (pie && !PieBias(image, eh, &bias, why)) return false;

  // Pass 1: check everything before writing anything.
  bool entry_ok = false;
  unsigned loads = 0;
  uint64_t end = 0;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph = ProgramHeader(image, eh, i, bias);
    if (ph.p_type == PT_INTERP) return BadImage(why, "has an interpreter (PT_INTERP): not a static executable");
    if (ph.p_type == PT_DYNAMIC && !pie) return BadImage(why, "dynamically linked (PT_DYNAMIC): need a static executable");
    if (ph.p_type != PT_LOAD) continue;  // notes, GNU_STACK, TLS template, ...: nothing to load
    if (!CheckLoad(ph, i, image.size(), ram.size(), why)) return false;
    loads++;
    if (ph.p_vaddr + ph.p_memsz > end) end = ph.p_vaddr + ph.p_memsz;
    // The entry must point at bytes that came from the file in an executable segment.
    uint64_t entry = eh.e_entry + bias;
    if ((ph.p_flags & PF_X) && entry >= ph.p_vaddr && entry - ph.p_vaddr < ph.p_filesz) entry_ok = true;
  }
  if (loads == 0) return BadImage(why, "no loadable segments (PT_LOAD)");
  if (!entry_ok) return BadImage(why, "entry point 0x%llx is not inside an executable segment", (ull)eh.e_entry);
  if (note == AbiNote::Other && !CheckAbiNote(image, eh, why)) return false;

  // Pass 2: copy.
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph = ProgramHeader(image, eh, i, bias);
    if (ph.p_type != PT_LOAD || ph.p_filesz == 0) continue;
    std::memcpy(ram.data() + ph.p_vaddr, image.data() + ph.p_offset, ph.p_filesz);
  }
  out->entry = eh.e_entry + bias;
  out->end = end;
  out->linux_program = note == AbiNote::None;
  uint64_t phdr = PhdrAddress(image, eh);
  out->phdr = phdr ? phdr + bias : 0;
  out->phnum = eh.e_phnum;
  out->shareable.clear();
  out->text.clear();
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph = ProgramHeader(image, eh, i, bias);
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && ph.p_filesz) out->text.push_back({ph.p_vaddr, ph.p_filesz});
  }
  // Read-only segments whose pages line up with the file, minus pages another segment
  // also covers (their content may be that one's).
  constexpr uint64_t kPage = PVM_PAGE_SIZE;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph = ProgramHeader(image, eh, i, bias);
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) || ph.p_vaddr % kPage != ph.p_offset % kPage) continue;
    if (out->linux_program && (ph.p_flags & PF_X)) continue;  // rewritten at load: not the file's bytes
    uint64_t first = (ph.p_vaddr + kPage - 1) / kPage * kPage;
    uint64_t last = (ph.p_vaddr + ph.p_filesz) / kPage * kPage;  // exclusive
    for (unsigned j = 0; j < eh.e_phnum && first < last; j++) {
      Elf64_Phdr other = ProgramHeader(image, eh, j, bias);
      if (j == i || other.p_type != PT_LOAD || other.p_memsz == 0) continue;
      uint64_t lo = other.p_vaddr / kPage * kPage;
      uint64_t hi = (other.p_vaddr + other.p_memsz + kPage - 1) / kPage * kPage;
      if (hi <= first || lo >= last) continue;
      if (lo <= first) first = std::min(last, hi);  // cut from the front
      else last = lo;                               // or from the back
    }
    if (first < last) out->shareable.push_back({first, ph.p_offset + (first - ph.p_vaddr), last - first});
  }
  return true;
}

}  // namespace pvm::monitor
