/*
 * The ABI note: every image says which pvm ABI (abi.json "version") it was built for,
 * in an ELF note (PT_NOTE) the monitor's loader checks before it loads anything. An
 * image built for another version is refused with EABI instead of failing in odd
 * ways. The linker script pulls this object in (EXTERN) and keeps the section.
 * Layout (abi.json "abiNote"): namesz, descsz, type, name "pvm\0", desc = u32 version.
 */
#include <pvm.h>

struct pvm_abi_note {
  uint32_t namesz;
  uint32_t descsz;
  uint32_t type;
  char name[4];
  uint32_t version;
};

__attribute__((used, section(".note.pvm"), aligned(4)))
const struct pvm_abi_note __pvm_abi_note = {
    sizeof PVM_ABI_NOTE_NAME, 4, PVM_ABI_NOTE_TYPE, PVM_ABI_NOTE_NAME, PVM_ABI_VERSION,
};
