#include "monitor/linux_personality.h"

#include <errno.h>
#include <time.h>

#include <cstdlib>
#include <cstring>

#include "hypercalls/linux/handoff.h"
#include "monitor/linux_rewrite.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

int64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// PVM_TRACE=syscalls (a comma-separated list may name more); syscalls-all traces every call.
uint32_t TraceFlags() {
  const char* trace = getenv("PVM_TRACE");
  if (!trace || strstr(trace, "syscalls") == nullptr) return 0;
  return PVM_LINUX_TRACE_SYSCALLS | (strstr(trace, "syscalls-all") ? PVM_LINUX_TRACE_ALL : 0);
}

// PVM_LINUX_REWRITE=off: leave `syscall` sites as they are (every syscall traps: to
// LSTAR, or on process the seccomp trap); for measuring the rewrite against the trap.
// =nosled (process): as where the host refuses address 0, for tests and the bench.
enum class RewriteMode { On, Off, NoSled };
RewriteMode Rewrite() {
  const char* v = getenv("PVM_LINUX_REWRITE");
  if (v && strcmp(v, "off") == 0) return RewriteMode::Off;
  if (v && strcmp(v, "nosled") == 0) return RewriteMode::NoSled;
  return RewriteMode::On;
}

constexpr uint64_t kStubArea = 64 * 1024;  // RewriteMovSites' stubs: 2730 numbers

}  // namespace

bool RefuseLinuxProgram(const char* reason, Failure* why) {
  return Fail(why, ctl::ErrorCode::AbiMismatch, 0,
              "image has no pvm ABI note (this monitor speaks pvm ABI %u); rebuild it with `npx pvm cc` "
              "(as a static Linux program it %s)",
              static_cast<unsigned>(PVM_ABI_VERSION), reason);
}

std::span<const uint8_t> LinuxFilesOf(const GuestMemory& ram, uint64_t ram_size) {
  if (ram_size < PVM_LINUX_RT_LIMIT) return {};
  pvm_linux_handoff h;
  const uint8_t* at = ram.At(PVM_LINUX_RT_GPA, sizeof h);
  if (!at) return {};
  std::memcpy(&h, at, sizeof h);
  // The guest wrote these: only a range inside its RAM is taken, and only its bytes.
  if (h.magic != PVM_LINUX_MAGIC || h.files_size == 0 || h.files_gpa >= ram_size ||
      h.files_size > ram_size - h.files_gpa) {
    return {};
  }
  const uint8_t* bytes = ram.At(h.files_gpa, h.files_size);
  return bytes ? std::span<const uint8_t>(bytes, h.files_size) : std::span<const uint8_t>{};
}

bool LoadLinuxPersonality(Backend* backend, std::span<uint8_t> ram, std::span<const uint8_t> blob,
                          const LoadedImage& image, std::span<const uint8_t> files, EntryState* entry, Failure* why) {
  size_t size = blob.size();
  pvm_linux_handoff h;
  if (size < sizeof h) return Fail(why, ctl::ErrorCode::Internal, 0, "the Linux personality is missing");
  std::memcpy(&h, blob.data(), sizeof h);
  if (h.magic != PVM_LINUX_MAGIC || h.header_size != sizeof h || h.mem_size < size ||
      h.mem_size > PVM_LINUX_RT_LIMIT - PVM_LINUX_RT_GPA || ram.size() < PVM_LINUX_RT_LIMIT ||
      h.call_entry < PVM_LINUX_RT_GPA || h.call_entry >= PVM_LINUX_RT_GPA + size ||
      h.syscall_entry < PVM_LINUX_RT_GPA || h.syscall_entry >= PVM_LINUX_RT_GPA + size) {
    return Fail(why, ctl::ErrorCode::Internal, 0, "the Linux personality blob is malformed");
  }
  h.entry = image.entry;
  h.phdr = image.phdr;
  h.phnum = image.phnum;
  h.realtime_offset_ns = static_cast<uint64_t>(ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_MONOTONIC));
  h.flags = TraceFlags();
  h.files_gpa = h.files_size = 0;
  if (!files.empty()) {
    // At the top of the heap area (the boot-info page says where it is): brk and mmap
    // stay below it. Page-aligned, so a fork copies only the pages a write touches.
    uint64_t heap_start = 0, heap_end = 0;
    std::memcpy(&heap_start, ram.data() + PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_HEAP_START_OFFSET, 8);
    std::memcpy(&heap_end, ram.data() + PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_HEAP_END_OFFSET, 8);
    uint64_t size = files.size(), at_gpa = (heap_end - size) & ~uint64_t{4095};
    if (size > heap_end || at_gpa < heap_start || at_gpa - heap_start < (1u << 20) || heap_end > ram.size()) {
      return Fail(why, ctl::ErrorCode::NoMemory, ENOMEM,
                  "the files take %zu bytes: with the program that leaves less than 1 MiB of guest RAM", files.size());
    }
    std::memcpy(ram.data() + at_gpa, files.data(), size);
    h.files_gpa = at_gpa;
    h.files_size = size;
  }
  uint8_t* at = ram.data() + PVM_LINUX_RT_GPA;
  std::memcpy(at, blob.data(), size);
  std::memset(at + size, 0, h.mem_size - size);  // its bss (exec reuses RAM)
  if (!backend->needs_cpu_tables()) {
    // User mode (process): no LSTAR; the backend catches a `syscall` and sends it to the
    // personality, and maps the sled at address 0 itself where the host lets it.
    h.flags |= PVM_LINUX_USER_MODE;
    uint8_t sled[PVM_PAGE_SIZE];
    BuildSled(sled, h.call_entry);
    bool sled_mapped = Rewrite() != RewriteMode::NoSled && backend->SetLinuxSyscalls(h.syscall_entry, sled);
    if (!sled_mapped) backend->SetLinuxSyscalls(h.syscall_entry, nullptr);
    if (Rewrite() != RewriteMode::Off && sled_mapped) {
      h.call_sites = static_cast<uint32_t>(RewriteSites(ram, image).sites);
    } else if (Rewrite() != RewriteMode::Off) {
      // No sled: the `mov $N, %eax; syscall` sites call stubs in the top 64 KiB of the
      // personality's area, where they fit above it.
      uint64_t stubs = PVM_LINUX_RT_LIMIT - kStubArea;
      if (PVM_LINUX_RT_GPA + h.mem_size <= stubs) {
        h.call_sites = static_cast<uint32_t>(RewriteMovSites(ram, image, stubs, kStubArea, h.syscall_entry).sites);
      }
    }
  } else if (Rewrite() != RewriteMode::Off) {
    RewriteCounts c = RewriteSyscalls(ram, image, h.call_entry);
    h.call_sites = static_cast<uint32_t>(c.sites);  // the personality traces it
  }
  std::memcpy(at, &h, sizeof h);
  entry->rip = h.start;
  return true;
}

}  // namespace pvm::monitor
