#include "monitor/boot_setup.h"

#include <cstring>

#include "monitor/clock.h"
#include "monitor/guest_memory.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// Page-table entry bits. U=1 at every level: kvm_pvm runs the guest at hardware CPL 3
// and livelocks on #PF otherwise. A and D are set up front so neither the CPU nor the
// shadow MMU has to write them back on first use.
constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kUser = 1ull << 2;
constexpr uint64_t kAccessed = 1ull << 5;
constexpr uint64_t kDirty = 1ull << 6;
constexpr uint64_t kHugeLeaf = 1ull << 7;
constexpr uint64_t kTable = kPresent | kWritable | kUser | kAccessed;
constexpr uint64_t kLeaf = kTable | kDirty;

constexpr uint64_t kPage = PVM_PAGE_SIZE;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kEntries = 512;

// Where the tables go inside [PVM_PAGE_TABLES_GPA, PVM_PAGE_TABLES_END): one PML4, one
// PDPT (512 GiB is plenty), a 4 KiB-page table for the top 2 MiB (the stack guard),
// then one page directory per GiB of RAM. The low 2 MiB have their own table at
// PVM_LOW_PT_GPA so page 0 can stay unmapped.
constexpr uint64_t kPml4 = PVM_PAGE_TABLES_GPA;
constexpr uint64_t kPdpt = kPml4 + kPage;
constexpr uint64_t kStackPt = kPdpt + kPage;
constexpr uint64_t kFirstPd = kStackPt + kPage;
// The channel window gets the directory after RAM's last possible one.
constexpr uint64_t kWindowGiB = PVM_CHANNEL_WINDOW_GPA / kGiB;
constexpr uint64_t kWindowPd = kFirstPd + kWindowGiB * kPage;
static_assert(PVM_CHANNEL_WINDOW_GPA % kGiB == 0 && PVM_CHANNEL_WINDOW_GPA >= PVM_MAX_RAM, "channel window");
static_assert(PVM_CHANNEL_SLOTS * PVM_CHANNEL_SLOT_SIZE <= kGiB && PVM_CHANNEL_SLOT_SIZE == kHugePage,
              "the channel window is one directory of 2 MiB pages");
static_assert(kWindowPd + kPage <= PVM_PAGE_TABLES_END, "page tables do not fit their area");
static_assert(PVM_MIN_RAM >= 2 * kHugePage, "the low and the stack 2 MiB must be different pages");

// GDT: 0x10 flat 64-bit code, 0x18 flat data, 0x20 a 16-byte 64-bit TSS descriptor.
// The TSS itself sits in the unused rest of the GDT page.
constexpr uint16_t kCodeSelector = 0x10;
constexpr uint16_t kDataSelector = 0x18;
constexpr uint16_t kTssSelector = 0x20;
constexpr uint16_t kGdtLimit = kTssSelector + 16 - 1;
constexpr uint64_t kCodeDescriptor = 0x00af9b000000ffffull;
constexpr uint64_t kDataDescriptor = 0x00cf93000000ffffull;
constexpr uint64_t kTssGpa = PVM_GDT_GPA + 0x80;
constexpr uint32_t kTssLimit = 0x67;  // 104-byte 64-bit TSS, no I/O bitmap
constexpr uint64_t kTssTypeBusy = 0xb;

// Control registers as docs/architecture.md "KVM flavours" has them (no SMEP: it ends in SHUTDOWN
// with U=1 pages under kvm_pvm).
constexpr uint64_t kCr0 = 0x80050033;  // PG AM WP NE ET MP PE
constexpr uint64_t kCr4 = 0x620;       // OSXMMEXCPT OSFXSR PAE
constexpr uint64_t kEfer = 0xd01;      // NXE LMA LME SCE
constexpr uint64_t kRflags = 0x2;      // reserved bit 1; interrupts off

// The IDT (layout in abi.json): 32 exception gates, each an interrupt gate on IST1 (the
// fault stack, so even a stack overflow is delivered) to a 16-byte stub that pushes 0
// where the CPU pushes no error code, then the vector, and writes to the fault port.
constexpr uint32_t kExceptionVectors = 32;
constexpr uint16_t kIdtLimit = kExceptionVectors * 16 - 1;
constexpr uint64_t kStubsGpa = PVM_IDT_GPA + 2048;
constexpr uint64_t kStubSize = 16;
constexpr uint64_t kFaultStackTop = PVM_FAULT_STACK_GPA + PVM_PAGE_SIZE;
constexpr uint64_t kTssIst1Offset = 36;
constexpr uint64_t kInterruptGate = 0x8e;  // present, DPL 0, 64-bit interrupt gate
static_assert(kStubsGpa + kExceptionVectors * kStubSize <= PVM_IDT_GPA + PVM_PAGE_SIZE, "stubs fit the IDT page");

bool PushesErrorCode(uint32_t vector) {
  switch (vector) {
    case 8: case 10: case 11: case 12: case 13: case 14: case 17: case 21: case 29: case 30: return true;
    default: return false;
  }
}

void Put64(std::span<uint8_t> ram, uint64_t gpa, uint64_t value) {
  std::memcpy(ram.data() + gpa, &value, sizeof value);
}

void WritePageTables(std::span<uint8_t> ram) {
  uint64_t ram_size = ram.size();
  uint64_t huge_pages = ram_size / kHugePage;
  uint64_t directories = (huge_pages + kEntries - 1) / kEntries;
  uint64_t top = huge_pages - 1;

  // Zeroed explicitly: exec-in-place will build them again over used RAM.
  std::memset(ram.data() + PVM_PAGE_TABLES_GPA, 0, PVM_PAGE_TABLES_END - PVM_PAGE_TABLES_GPA);
  std::memset(ram.data() + PVM_LOW_PT_GPA, 0, kPage);

  Put64(ram, kPml4, kPdpt | kTable);
  for (uint64_t g = 0; g < directories; g++) Put64(ram, kPdpt + g * 8, (kFirstPd + g * kPage) | kTable);
  for (uint64_t i = 0; i < huge_pages; i++) {
    uint64_t entry = (i * kHugePage) | kLeaf | kHugeLeaf;
    if (i == 0) entry = PVM_LOW_PT_GPA | kTable;
    if (i == top) entry = kStackPt | kTable;
    Put64(ram, kFirstPd + i * 8, entry);  // the directories are contiguous
  }
  // The channel window: every slot mapped, whether a channel is there or not (an access
  // to an empty slot is an access outside RAM, reported as such).
  Put64(ram, kPdpt + kWindowGiB * 8, kWindowPd | kTable);
  for (uint64_t s = 0; s < PVM_CHANNEL_SLOTS; s++) {
    Put64(ram, kWindowPd + s * 8, (PVM_CHANNEL_WINDOW_GPA + s * PVM_CHANNEL_SLOT_SIZE) | kLeaf | kHugeLeaf);
  }
  // Low 2 MiB: everything but page 0, so a null pointer faults; the IDT page read-only.
  for (uint64_t p = 1; p < kEntries; p++) {
    uint64_t entry = (p * kPage) | kLeaf;
    if (p * kPage == PVM_IDT_GPA) entry &= ~kWritable;
    Put64(ram, PVM_LOW_PT_GPA + p * 8, entry);
  }
  // Top 2 MiB: everything but the stack guard page.
  uint64_t guard = StackGuardGpa(ram_size);
  for (uint64_t p = 0; p < kEntries; p++) {
    uint64_t gpa = top * kHugePage + p * kPage;
    if (gpa != guard) Put64(ram, kStackPt + p * 8, gpa | kLeaf);
  }
}

void WriteGdt(std::span<uint8_t> ram) {
  std::memset(ram.data() + PVM_GDT_GPA, 0, kPage);
  Put64(ram, PVM_GDT_GPA + kCodeSelector, kCodeDescriptor);
  Put64(ram, PVM_GDT_GPA + kDataSelector, kDataDescriptor);
  uint64_t low = (kTssLimit & 0xffff) | ((kTssGpa & 0xffffff) << 16) | (kTssTypeBusy << 40) | (1ull << 47) |
                 ((static_cast<uint64_t>(kTssLimit) >> 16 & 0xf) << 48) | ((kTssGpa >> 24 & 0xff) << 56);
  Put64(ram, PVM_GDT_GPA + kTssSelector, low);
  Put64(ram, PVM_GDT_GPA + kTssSelector + 8, kTssGpa >> 32);
  // TSS: the I/O map base at offset 102 points past the limit (no I/O bitmap).
  uint16_t iomap = kTssLimit + 1;
  std::memcpy(ram.data() + kTssGpa + 102, &iomap, sizeof iomap);
}

void WriteIdt(std::span<uint8_t> ram, bool exception_stack) {
  std::memset(ram.data() + PVM_IDT_GPA, 0, kPage);
  std::memset(ram.data() + PVM_FAULT_STACK_GPA, 0, kPage);
  for (uint32_t v = 0; v < kExceptionVectors; v++) {
    uint64_t stub = kStubsGpa + v * kStubSize;
    uint64_t low = (stub & 0xffff) | static_cast<uint64_t>(kCodeSelector) << 16 | (exception_stack ? 1ull : 0) << 32 |
                   kInterruptGate << 40 | ((stub >> 16) & 0xffff) << 48;
    Put64(ram, PVM_IDT_GPA + v * 16, low);
    Put64(ram, PVM_IDT_GPA + v * 16 + 8, stub >> 32);
    uint8_t* code = ram.data() + stub;
    size_t n = 0;
    if (!PushesErrorCode(v)) {
      code[n++] = 0x6a;  // push $0
      code[n++] = 0x00;
    }
    code[n++] = 0x6a;  // push $vector
    code[n++] = static_cast<uint8_t>(v);
    code[n++] = 0xe6;  // out %al, $fault_port
    code[n++] = static_cast<uint8_t>(PVM_FAULT_PORT);
    code[n++] = 0xeb;  // jmp . (never resumed)
    code[n++] = 0xfe;
  }
  Put64(ram, kTssGpa + kTssIst1Offset, kFaultStackTop);
}

void WriteArgs(std::span<uint8_t> ram, const std::vector<std::string_view>& args) {
  uint64_t strings = PVM_ARGS_GPA + (args.size() + 1) * 8;
  for (size_t i = 0; i < args.size(); i++) {
    Put64(ram, PVM_ARGS_GPA + i * 8, strings);
    std::memcpy(ram.data() + strings, args[i].data(), args[i].size());
    ram[strings + args[i].size()] = 0;
    strings += args[i].size() + 1;
  }
  Put64(ram, PVM_ARGS_GPA + args.size() * 8, 0);  // argv[argc] = NULL
}

// The environment after argv's strings: envc pointers and a NULL (8-aligned), then the
// strings. Returns envp's address.
uint64_t WriteEnv(std::span<uint8_t> ram, const std::vector<std::string_view>& args,
                  const std::vector<std::string_view>& env) {
  uint64_t envp = (PVM_ARGS_GPA + ArgsAreaBytes(args) + 7) & ~7ull;
  uint64_t strings = envp + (env.size() + 1) * 8;
  for (size_t i = 0; i < env.size(); i++) {
    Put64(ram, envp + i * 8, strings);
    std::memcpy(ram.data() + strings, env[i].data(), env[i].size());
    ram[strings + env[i].size()] = 0;
    strings += env[i].size() + 1;
  }
  Put64(ram, envp + env.size() * 8, 0);
  return envp;
}

}  // namespace

bool ReadFaultFrame(const GuestMemory& ram, uint64_t exit_rip, uint64_t exit_rsp, FaultFrame* out) {
  // Only a report from one of the stubs counts; a guest's own write to the port is not one.
  if (exit_rip < kStubsGpa || exit_rip >= kStubsGpa + kExceptionVectors * kStubSize) return false;
  const uint8_t* frame = ram.GuestBuffer(exit_rsp, 7 * 8);
  if (!frame) return false;
  uint64_t q[7];
  std::memcpy(q, frame, sizeof q);
  uint32_t stub_vector = static_cast<uint32_t>((exit_rip - kStubsGpa) / kStubSize);
  if (q[0] != stub_vector) return false;  // the frame is not this stub's (overwritten)
  *out = FaultFrame{stub_vector, PushesErrorCode(stub_vector), q[1], q[2], q[5]};
  return true;
}

uint64_t ArgsAreaBytes(const std::vector<std::string_view>& args) {
  uint64_t bytes = (args.size() + 1) * 8;
  for (auto a : args) bytes += a.size() + 1;
  return bytes;
}

uint64_t ArgsAreaBytes(const BootParams& params) {
  uint64_t bytes = ArgsAreaBytes(params.args);
  if (!params.has_env) return bytes;
  bytes = (bytes + 7) & ~7ull;
  return bytes + ArgsAreaBytes(params.env);  // same shape: pointers, NULL, strings
}

uint64_t StackGuardGpa(uint64_t ram_size) { return ram_size - PVM_STACK_SIZE; }

// RAM size from the host, checked and rounded up to whole 2 MiB pages.
bool CheckRamSize(uint64_t requested, uint64_t* out, Failure* why) {
  if (requested < PVM_MIN_RAM || requested > PVM_MAX_RAM) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM of %s is outside [%s, %s]", SizeText(requested).c_str(),
                SizeText(PVM_MIN_RAM).c_str(), SizeText(PVM_MAX_RAM).c_str());
  }
  *out = (requested + kHugePage - 1) & ~(kHugePage - 1);
  return true;
}

uint64_t ImageFileLimit(uint64_t ram_size) {
  constexpr uint64_t kMinImageFileLimit = 64ull << 20;
  return ram_size > kMinImageFileLimit ? ram_size : kMinImageFileLimit;
}

void WriteBootTables(std::span<uint8_t> ram, bool exception_stack) {
  WriteGdt(ram);
  WriteIdt(ram, exception_stack);  // after the GDT: it sets the TSS's IST1
  WritePageTables(ram);
}

bool SetUpBoot(std::span<uint8_t> ram, const LoadedImage& image, const BootParams& params, EntryState* entry,
               Failure* why, bool tables_ready) {
  uint64_t ram_size = ram.size();
  if (ram_size < PVM_MIN_RAM || ram_size > PVM_MAX_RAM || ram_size % kHugePage != 0) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "guest RAM of %s is out of range", SizeText(ram_size).c_str());
  }
  uint64_t args_bytes = ArgsAreaBytes(params);
  if (args_bytes > PVM_ARGS_SIZE) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "arguments take %llu bytes, the args area holds %llu",
                static_cast<unsigned long long>(args_bytes), static_cast<unsigned long long>(PVM_ARGS_SIZE));
  }
  uint64_t stack_top = ram_size;
  uint64_t heap_end = stack_top - PVM_STACK_SIZE;
  uint64_t heap_start = (image.end + kPage - 1) & ~(kPage - 1);
  if (image.end < PVM_IMAGE_BASE || heap_start > heap_end) {
    return Fail(why, ctl::ErrorCode::ImageTooLarge, 0, "image end 0x%llx leaves no room below the stack",
                static_cast<unsigned long long>(image.end));
  }

  if (!tables_ready && params.cpu_tables) WriteBootTables(ram, params.exception_stack);
  WriteArgs(ram, params.args);
  uint64_t envp = params.has_env ? WriteEnv(ram, params.args, params.env) : 0;

  pvm_boot_info info{};
  info.magic = PVM_BOOT_MAGIC;
  info.abi_version = PVM_ABI_VERSION;
  info.argc = static_cast<uint32_t>(params.args.size());
  info.flags = PVM_BOOT_FLAG_SIGNALS_IN_PAGE | (params.has_env ? PVM_BOOT_FLAG_ENV : 0);
  info.envp = envp;
  info.envc = params.has_env ? static_cast<uint32_t>(params.env.size()) : 0;
  info.id = params.id;
  info.parent_id = params.parent_id;
  info.ram_size = ram_size;
  info.heap_start = heap_start;
  info.heap_end = heap_end;
  info.stack_top = stack_top;
  info.argv = PVM_ARGS_GPA;
  info.console_gpa = PVM_CONSOLE_GPA;
  info.console_size = PVM_CONSOLE_SIZE;
  info.channel_window = PVM_CHANNEL_WINDOW_GPA;
  info.channel_table = PVM_CHANNEL_TABLE_GPA;
  info.channel_slots = PVM_CHANNEL_SLOTS;
  info.fork_channel = kNoChannel;
  info.hypercall_entry = params.hypercall_entry;
  info.generation = params.generation;
  info.tsc_khz = params.tsc_khz;
  info.clock_epoch = NewClockEpoch();
  std::memcpy(info.entropy, params.entropy, sizeof info.entropy);
  std::memset(ram.data() + PVM_BOOT_INFO_GPA, 0, PVM_BOOT_INFO_SIZE);
  std::memcpy(ram.data() + PVM_BOOT_INFO_GPA, &info, sizeof info);

  EntryState e = BootControlState();
  e.rip = image.entry;
  e.rsp = stack_top;  // 2 MiB multiple: 16-byte aligned
  e.rdi = PVM_BOOT_INFO_GPA;
  *entry = e;
  return true;
}

EntryState BootControlState() {
  EntryState e;
  e.rflags = kRflags;
  e.cr0 = kCr0;
  e.cr3 = kPml4;
  e.cr4 = kCr4;
  e.efer = kEfer;
  e.gdt_base = PVM_GDT_GPA;
  e.gdt_limit = kGdtLimit;
  e.code_selector = kCodeSelector;
  e.data_selector = kDataSelector;
  e.tss_selector = kTssSelector;
  e.tss_base = kTssGpa;
  e.tss_limit = kTssLimit;
  e.idt_base = PVM_IDT_GPA;
  e.idt_limit = kIdtLimit;
  return e;
}

}  // namespace pvm::monitor
