#include "monitor/abi_note.h"

#include <cstring>

#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

constexpr uint64_t Align4(uint64_t n) { return (n + 3) & ~uint64_t{3}; }

// Scans one note segment's bytes; true with *version when a pvm ABI note is there.
bool FindInSegment(std::span<const uint8_t> notes, uint32_t* version) {
  static constexpr char kName[] = PVM_ABI_NOTE_NAME;  // with its NUL, as in the note
  uint64_t at = 0;
  while (notes.size() - at >= sizeof(Elf64_Nhdr)) {
    Elf64_Nhdr nh;
    std::memcpy(&nh, notes.data() + at, sizeof nh);
    at += sizeof nh;
    uint64_t name_len = Align4(nh.n_namesz), desc_len = Align4(nh.n_descsz);
    if (name_len > notes.size() - at || desc_len > notes.size() - at - name_len) return false;  // truncated
    const uint8_t* name = notes.data() + at;
    const uint8_t* desc = name + name_len;
    at += name_len + desc_len;
    if (nh.n_type == PVM_ABI_NOTE_TYPE && nh.n_namesz == sizeof kName && std::memcmp(name, kName, sizeof kName) == 0 &&
        nh.n_descsz == sizeof *version) {
      std::memcpy(version, desc, sizeof *version);
      return true;
    }
  }
  return false;
}

}  // namespace

AbiNote FindAbiNote(std::span<const uint8_t> image, const Elf64_Ehdr& eh) {
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + static_cast<uint64_t>(i) * sizeof ph, sizeof ph);
    if (ph.p_type != PT_NOTE || ph.p_offset > image.size() || ph.p_filesz > image.size() - ph.p_offset) continue;
    uint32_t version = 0;
    if (FindInSegment(image.subspan(ph.p_offset, ph.p_filesz), &version)) {
      return version == PVM_ABI_VERSION ? AbiNote::This : AbiNote::Other;
    }
  }
  return AbiNote::None;
}

bool CheckAbiNote(std::span<const uint8_t> image, const Elf64_Ehdr& eh, Failure* why) {
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + static_cast<uint64_t>(i) * sizeof ph, sizeof ph);
    if (ph.p_type != PT_NOTE || ph.p_offset > image.size() || ph.p_filesz > image.size() - ph.p_offset) continue;
    uint32_t version = 0;
    if (!FindInSegment(image.subspan(ph.p_offset, ph.p_filesz), &version)) continue;
    if (version == PVM_ABI_VERSION) return true;
    return Fail(why, ctl::ErrorCode::AbiMismatch, 0,
                "image built for pvm ABI %u, this monitor speaks %u; rebuild it with `npx pvm cc`", version,
                static_cast<unsigned>(PVM_ABI_VERSION));
  }
  return Fail(why, ctl::ErrorCode::AbiMismatch, 0,
              "image has no pvm ABI note (this monitor speaks pvm ABI %u); rebuild it with `npx pvm cc`",
              static_cast<unsigned>(PVM_ABI_VERSION));
}

}  // namespace pvm::monitor
