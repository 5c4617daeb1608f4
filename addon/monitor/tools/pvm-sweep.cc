// pvm-sweep FILE: the `syscall` sites the load-time sweep (addon/monitor/linux_rewrite.h)
// finds in a static ELF's executable segments, one address a line, then a count line.
// For checking the sweep against a disassembler (test/linux-sweep.test.ts).
#include <elf.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "monitor/x86_length.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: pvm-sweep FILE\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Elf64_Ehdr eh;
  if (file.size() < sizeof eh) return fprintf(stderr, "pvm-sweep: not an ELF\n"), 1;
  std::memcpy(&eh, file.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr) > file.size()) {
    return fprintf(stderr, "pvm-sweep: not an ELF\n"), 1;
  }
  unsigned long sites = 0, undecoded = 0;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || ph.p_offset + ph.p_filesz > file.size()) continue;
    const uint8_t* code = file.data() + ph.p_offset;
    for (size_t at = 0; at < ph.p_filesz;) {
      size_t n = pvm::monitor::X86Length(code + at, ph.p_filesz - at);
      if (n == 0) {
        undecoded++;
        at++;
        continue;
      }
      if (n == 2 && code[at] == 0x0f && code[at + 1] == 0x05) {
        printf("%llx\n", static_cast<unsigned long long>(ph.p_vaddr + at));
        sites++;
      }
      at += n;
    }
  }
  printf("sites %lu undecoded %lu\n", sites, undecoded);
  return 0;
}
