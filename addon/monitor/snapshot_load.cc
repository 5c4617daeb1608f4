#include "monitor/snapshot_load.h"

#include <sys/mman.h>

#include <cstring>
#include <utility>

#include "monitor/boot_setup.h"
#include "monitor/clone_identity.h"
#include "monitor/snapshot_file.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

// More mappings than this (a RAM of scattered pages) and the pages are copied instead:
// the kernel's limit on mappings is per process (vm.max_map_count, 65530 by default).
constexpr uint64_t kMaxMappedRuns = 4096;

struct FileMap {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ~FileMap() {
    if (data) munmap(const_cast<uint8_t*>(data), size);
  }
};

// The stored pages into RAM: runs mapped from the file (copy-on-write), or copied.
void PlacePages(Backend* backend, int fd, const SnapshotHeader& h, const uint8_t* file) {
  const uint8_t* bitmap = file + h.bitmap_offset;
  uint64_t ram_pages = h.ram_size / PVM_PAGE_SIZE;
  uint64_t runs = 0;
  for (uint64_t p = 0; p < ram_pages; p++) {
    if (PageStored(bitmap, p) && (p == 0 || !PageStored(bitmap, p - 1))) runs++;
  }
  const GuestMemory& ram = backend->memory();
  uint64_t rank = 0;  // stored pages before p: where p's bytes are in the file
  for (uint64_t p = 0; p < ram_pages;) {
    if (!PageStored(bitmap, p)) {
      p++;
      continue;
    }
    uint64_t end = p + 1;
    while (end < ram_pages && PageStored(bitmap, end)) end++;
    uint64_t gpa = p * PVM_PAGE_SIZE, length = (end - p) * PVM_PAGE_SIZE;
    uint64_t offset = h.data_offset + rank * PVM_PAGE_SIZE;
    bool mapped = runs <= kMaxMappedRuns && backend->ShareFilePages(ram, gpa, fd, offset, length);
    if (!mapped) {
      // A page the monitor cannot reach (process: below the floor, the stack guard) was
      // never stored; anything else the backend did not map is copied.
      for (uint64_t q = 0; q < end - p; q++) {
        if (uint8_t* to = ram.GuestBuffer(gpa + q * PVM_PAGE_SIZE, PVM_PAGE_SIZE)) {
          std::memcpy(to, file + offset + q * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
        }
      }
    }
    rank += end - p;
    p = end;
  }
}

}  // namespace

bool LoadSnapshot(const BootRequest& request, Monitor* m, Failure* why) {
  Backend* backend = m->backend.get();
  SnapshotHeader h;
  FileMap file;
  if (!OpenSnapshot(request.image_fd, backend->name(), backend->flags(), &h, &file.data, &file.size, why)) return false;
  uint64_t ram_size = 0;
  if (!CheckRamSize(h.ram_size, &ram_size, why) || ram_size != h.ram_size) {
    why->code = ctl::ErrorCode::BadSnapshot;
    why->detail = ctl::kSnapshotMalformed;
    return false;
  }
  m->ram_size = ram_size;
  std::unique_ptr<SavedState> state =
      backend->LoadState(file.data + h.state_offset, static_cast<size_t>(h.state_size), why);
  if (!state) {
    why->code = ctl::ErrorCode::BadSnapshot;
    why->detail = ctl::kSnapshotMalformed;
    return false;
  }
  // RAM all zero: a pooled monitor's (which holds its boot tables) is swapped for new.
  if (m->prepared_ram != 0) {
    GuestMemory fresh;
    if (!backend->AllocateMemory(ram_size, &fresh, why) || !backend->ReplaceMemory(std::move(fresh), why)) return false;
  } else if (!backend->Create(ram_size, why)) {
    return false;
  }
  PlacePages(backend, request.image_fd, h, file.data);

  // The boot-info page says who this pVM is now: a root pVM with no channels yet.
  const GuestMemory& ram = backend->memory();
  auto put = [&](uint64_t offset, const void* v, size_t n) {
    if (uint8_t* at = ram.At(PVM_BOOT_INFO_GPA + offset, n)) std::memcpy(at, v, n);
  };
  uint64_t no_parent = 0, no_signals = 0, entry = backend->hypercall_entry();
  uint32_t no_channel = kNoChannel;
  put(PVM_BOOT_INFO_ID_OFFSET, &m->identity.id, 8);
  put(PVM_BOOT_INFO_PARENT_ID_OFFSET, &no_parent, 8);
  put(PVM_BOOT_INFO_FORK_CHANNEL_OFFSET, &no_channel, 4);
  put(PVM_BOOT_INFO_PENDING_SIGNALS_OFFSET, &no_signals, 8);
  put(PVM_BOOT_INFO_HYPERCALL_ENTRY_OFFSET, &entry, 8);  // process: this monitor's address
  // Unique: a generation past the snapshot's and fresh entropy (the runtime reseeds).
  m->identity.generation = h.generation;
  MakeCloneUnique(m, ram);
  if (!backend->RestoreState(*state, why)) {
    why->code = ctl::ErrorCode::BadSnapshot;
    why->detail = ctl::kSnapshotMalformed;
    return false;
  }
  return true;
}

}  // namespace pvm::monitor
