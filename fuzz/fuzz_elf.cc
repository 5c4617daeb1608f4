// Fuzzes the image loader (monitor/elf_loader.h LoadElf) and the boot set-up that
// follows it at every spawn and exec (monitor/boot_setup.h SetUpBoot).
//
// Input: [RAM size selector] [argument selector] [image bytes ...]
//
// Guest RAM is the end of an 8 MiB anonymous mapping with an inaccessible page right
// after it, so a write past the RAM faults even without AddressSanitizer; it is zeroed
// (MADV_DONTNEED) before each input, as fresh guest RAM is, and mincore() tells which
// pages the code under test wrote.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <elf.h>

#include "fuzz/fuzz_common.h"
#include "monitor/boot_setup.h"
#include "monitor/elf_loader.h"
#include "pvm/abi.h"

namespace pvm::fuzz {
namespace {

using monitor::BootParams;
using monitor::EntryState;
using monitor::Failure;
using monitor::LoadedImage;

constexpr uint64_t kPage = PVM_PAGE_SIZE;
constexpr uint64_t kSpan = 8ull << 20;
constexpr uint64_t k2MiB = 2ull << 20;

uint8_t* Area() {
  static uint8_t* area = [] {
    void* p = mmap(nullptr, kSpan + 2 * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) abort();
    uint8_t* base = static_cast<uint8_t*>(p) + kPage;
    if (mprotect(base, kSpan, PROT_READ | PROT_WRITE) != 0) abort();
    // 4 KiB pages whatever the THP setting: with "always", one write could make a whole
    // 2 MiB page resident and the written-pages check below would see writes nowhere made.
    madvise(base, kSpan, MADV_NOHUGEPAGE);
    return base;
  }();
  return area;
}

// Mostly what the monitor uses (whole 2 MiB pages: 4, 6 or 8 MiB); sometimes any size
// from the minimum up, which LoadElf takes and SetUpBoot must refuse.
uint64_t RamSize(uint8_t selector) {
  if (selector < 0xc0) return PVM_MIN_RAM + (selector % 3) * k2MiB;
  return PVM_MIN_RAM + (selector - 0xc0) * 0x10001ull;
}

// argc 0..7 short strings; with bit 3 the last one is as long as makes the whole
// vector take exactly the args area (bit 4 clear) or one byte more (bit 4 set).
std::vector<std::string> Args(uint8_t selector) {
  size_t argc = selector & 7;
  std::vector<std::string> args;
  for (size_t i = 0; i < argc; i++) args.push_back("arg" + std::to_string(i));
  if ((selector & 8) && argc > 0) {
    args.back().clear();
    uint64_t used = (argc + 1) * 8;
    for (const auto& a : args) used += a.size() + 1;
    uint64_t want = PVM_ARGS_SIZE + ((selector & 16) ? 1 : 0);
    args.back().assign(want - used, 'x');
  }
  return args;
}

// Which pages of [base, base + size) are resident, i.e. were written (or read) since
// the last MADV_DONTNEED. base is page aligned.
std::vector<uint8_t> Resident(uint8_t* base, uint64_t size) {
  std::vector<uint8_t> v((size + kPage - 1) / kPage);
  if (mincore(base, size, v.data()) != 0) abort();
  return v;
}

struct Segment {
  uint64_t vaddr, offset, filesz, memsz;
  uint32_t flags;
};

// The PT_LOAD headers, read independently of the loader (the image passed LoadElf, so
// the table is inside the file).
std::vector<Segment> Loads(std::span<const uint8_t> image) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  std::vector<Segment> out;
  for (unsigned i = 0; i < eh.e_phnum; i++) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD) out.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_flags});
  }
  return out;
}

void CheckLoaded(std::span<const uint8_t> image, std::span<uint8_t> ram, uint8_t* area, const LoadedImage& loaded) {
  const uint64_t ram_size = ram.size();
  const uint64_t limit = ram_size - PVM_STACK_SIZE;
  PVM_FUZZ_CHECK(loaded.entry >= PVM_IMAGE_BASE && loaded.entry < limit, "entry 0x%llx outside [image base, stack)",
                 (unsigned long long)loaded.entry);
  PVM_FUZZ_CHECK(loaded.end > loaded.entry && loaded.end <= limit, "image end 0x%llx (entry 0x%llx, limit 0x%llx)",
                 (unsigned long long)loaded.end, (unsigned long long)loaded.entry, (unsigned long long)limit);

  std::vector<Segment> loads = Loads(image);
  PVM_FUZZ_CHECK(!loads.empty(), "loaded an image without PT_LOAD");
  bool entry_in_exec = false;
  for (const Segment& s : loads) {
    PVM_FUZZ_CHECK(s.vaddr >= PVM_IMAGE_BASE && s.memsz <= limit - s.vaddr && s.filesz <= s.memsz &&
                       s.offset <= image.size() && s.filesz <= image.size() - s.offset,
                   "accepted a segment 0x%llx+0x%llx (file 0x%llx+0x%llx) that does not fit",
                   (unsigned long long)s.vaddr, (unsigned long long)s.memsz, (unsigned long long)s.offset,
                   (unsigned long long)s.filesz);
    if ((s.flags & PF_X) && loaded.entry >= s.vaddr && loaded.entry - s.vaddr < s.filesz) entry_in_exec = true;
  }
  PVM_FUZZ_CHECK(entry_in_exec, "entry 0x%llx is not in the file bytes of an executable segment",
                 (unsigned long long)loaded.entry);

  // Written pages: only those holding some segment's file bytes.
  uint64_t offset_in_area = static_cast<uint64_t>(ram.data() - area);
  std::vector<uint8_t> resident = Resident(area, kSpan);
  for (size_t p = 0; p < resident.size(); p++) {
    if (!(resident[p] & 1)) continue;
    uint64_t lo = p * kPage, hi = lo + kPage;  // in the area
    bool covered = false;
    for (const Segment& s : loads) {
      if (s.filesz == 0) continue;
      uint64_t a = offset_in_area + s.vaddr, b = a + s.filesz;
      if (a < hi && b > lo) covered = true;
    }
    PVM_FUZZ_CHECK(covered, "LoadElf wrote page 0x%llx of guest RAM, which no segment's file bytes cover",
                   (unsigned long long)(lo - offset_in_area));
  }
  // The last segment is copied last: its bytes are exactly the file's.
  const Segment& last = loads.back();
  PVM_FUZZ_CHECK(std::memcmp(ram.data() + last.vaddr, image.data() + last.offset, last.filesz) == 0,
                 "segment at 0x%llx does not hold its file bytes", (unsigned long long)last.vaddr);

  // Shareable pages: whole pages inside the image, equal to the file where the monitor
  // will map the file, and no page given twice.
  for (size_t i = 0; i < loaded.shareable.size(); i++) {
    const monitor::FilePages& f = loaded.shareable[i];
    PVM_FUZZ_CHECK(f.gpa % kPage == 0 && f.offset % kPage == 0 && f.length % kPage == 0 && f.length > 0,
                   "shareable pages not page aligned: gpa 0x%llx offset 0x%llx length 0x%llx",
                   (unsigned long long)f.gpa, (unsigned long long)f.offset, (unsigned long long)f.length);
    PVM_FUZZ_CHECK(f.gpa >= PVM_IMAGE_BASE && f.gpa <= loaded.end && f.length <= loaded.end - f.gpa,
                   "shareable pages 0x%llx+0x%llx outside the image", (unsigned long long)f.gpa,
                   (unsigned long long)f.length);
    PVM_FUZZ_CHECK(f.offset <= image.size() && f.length <= image.size() - f.offset,
                   "shareable pages map file bytes 0x%llx+0x%llx past the end of the file (0x%zx bytes)",
                   (unsigned long long)f.offset, (unsigned long long)f.length, image.size());
    PVM_FUZZ_CHECK(std::memcmp(ram.data() + f.gpa, image.data() + f.offset, f.length) == 0,
                   "shareable pages at 0x%llx differ from file offset 0x%llx", (unsigned long long)f.gpa,
                   (unsigned long long)f.offset);
    for (size_t j = 0; j < i; j++) {
      const monitor::FilePages& g = loaded.shareable[j];
      PVM_FUZZ_CHECK(f.gpa + f.length <= g.gpa || g.gpa + g.length <= f.gpa, "shareable ranges overlap");
    }
  }
}

void CheckBoot(std::span<uint8_t> ram, std::span<const uint8_t> image, const LoadedImage& loaded,
               const std::vector<std::string>& args, const EntryState& entry) {
  PVM_FUZZ_CHECK(entry.rip == loaded.entry && entry.rsp == ram.size() && entry.rdi == PVM_BOOT_INFO_GPA,
                 "entry state rip 0x%llx rsp 0x%llx rdi 0x%llx", (unsigned long long)entry.rip,
                 (unsigned long long)entry.rsp, (unsigned long long)entry.rdi);
  pvm_boot_info info;
  std::memcpy(&info, ram.data() + PVM_BOOT_INFO_GPA, sizeof info);
  PVM_FUZZ_CHECK(info.magic == PVM_BOOT_MAGIC && info.argc == args.size() && info.ram_size == ram.size() &&
                     info.heap_start >= loaded.end && info.heap_start <= info.heap_end &&
                     info.heap_end <= info.stack_top && info.stack_top == ram.size() && info.argv == PVM_ARGS_GPA,
                 "boot info inconsistent");
  // argv round trip: pointers into the args area, strings as given, NULL at the end.
  for (size_t i = 0; i <= args.size(); i++) {
    uint64_t p;
    std::memcpy(&p, ram.data() + PVM_ARGS_GPA + i * 8, 8);
    if (i == args.size()) {
      PVM_FUZZ_CHECK(p == 0, "argv[argc] is not NULL");
      break;
    }
    const std::string& a = args[i];
    PVM_FUZZ_CHECK(p >= PVM_ARGS_GPA && p + a.size() < PVM_ARGS_GPA + PVM_ARGS_SIZE, "argv[%zu] outside the args area",
                   i);
    PVM_FUZZ_CHECK(std::memcmp(ram.data() + p, a.data(), a.size()) == 0 && ram[p + a.size()] == 0,
                   "argv[%zu] differs", i);
  }
  // Boot data stays below the image: the image's bytes and its shareable pages are as
  // the loader left them.
  for (const monitor::FilePages& f : loaded.shareable) {
    PVM_FUZZ_CHECK(std::memcmp(ram.data() + f.gpa, image.data() + f.offset, f.length) == 0,
                   "SetUpBoot wrote into shareable pages at 0x%llx", (unsigned long long)f.gpa);
  }
}

}  // namespace
}  // namespace pvm::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvm::fuzz;
  uint8_t* area = Area();
  if (madvise(area, kSpan, MADV_DONTNEED) != 0) abort();  // fresh, zeroed guest RAM

  Input in(data, size);
  uint64_t ram_size = RamSize(in.Byte());
  std::vector<std::string> args = Args(in.Byte());
  std::span<const uint8_t> image = in.Rest();
  std::span<uint8_t> ram(area + kSpan - ram_size, ram_size);

  LoadedImage loaded;
  loaded.shareable.push_back({1, 2, 3});  // LoadElf must replace what was there
  Failure why;
  if (!pvm::monitor::LoadElf(image, ram, &loaded, &why)) {
    PVM_FUZZ_CHECK(why.code == pvm::ctl::ErrorCode::BadImage || why.code == pvm::ctl::ErrorCode::ImageTooLarge ||
                       why.code == pvm::ctl::ErrorCode::AbiMismatch,
                   "LoadElf failed with code %u", static_cast<unsigned>(why.code));
    PVM_FUZZ_CHECK(!why.message.empty(), "LoadElf failed without a message");
    std::vector<uint8_t> resident = Resident(area, kSpan);
    for (size_t p = 0; p < resident.size(); p++) {
      PVM_FUZZ_CHECK(!(resident[p] & 1), "a failed LoadElf touched guest RAM (page %zu of the area)", p);
    }
    return 0;
  }
  CheckLoaded(image, ram, area, loaded);

  BootParams params;
  params.id = 7;
  params.parent_id = 3;
  for (const auto& a : args) params.args.emplace_back(a);
  EntryState entry;
  bool fits_ram = ram_size % k2MiB == 0;
  bool fits_args = pvm::monitor::ArgsAreaBytes(params.args) <= PVM_ARGS_SIZE;
  bool ok = pvm::monitor::SetUpBoot(ram, loaded, params, &entry, &why);
  PVM_FUZZ_CHECK(ok == (fits_ram && fits_args), "SetUpBoot %s (RAM 0x%llx, args fit: %d): %s",
                 ok ? "succeeded" : "failed", (unsigned long long)ram_size, fits_args, ok ? "" : why.message.c_str());
  if (ok) CheckBoot(ram, image, loaded, args, entry);
  return 0;
}
