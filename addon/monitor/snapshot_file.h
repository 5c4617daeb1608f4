// The snapshot file (pvm.snapshot(file), host.spawn({ snapshot })): one definition of its
// layout, its checksum and the checks a file passes before a monitor trusts it.
//
//   [0, 4096)            SnapshotHeader (little-endian), the rest of the page zero
//   [bitmap_offset, +)   one bit per 4 KiB RAM page (bit p%8 of byte p/8): set = stored
//   [state_offset, +)    the backend's vCPU state (SavedState::Serialize)
//   [data_offset, +)     the stored pages in page order, 4 KiB each; data_offset is page
//                        aligned, so a run of stored pages maps straight into guest RAM
//
// checksum is XXH64 (seed 0) of the whole file with the checksum field read as zero.
// Pages that are zero are not stored: a new pVM gets them zero anyway.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "monitor/failure.h"

namespace pvm::monitor {

constexpr char kSnapshotMagic[8] = {'P', 'V', 'M', 'S', 'N', 'A', 'P', '\0'};
constexpr uint32_t kSnapshotVersion = 1;
constexpr uint64_t kSnapshotHeaderSize = 4096;
constexpr uint64_t kSnapshotMaxState = 1 << 20;  // a vCPU state is a few KiB: bigger is malformed
constexpr uint32_t kSnapshotSameClones = 1;      // SnapshotHeader.flags: made with uniqueClones: false

struct SnapshotHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t file_size;
  uint64_t checksum;
  char backend[16];  // Backend::name(), NUL-terminated
  uint32_t backend_flags;  // Backend::flags(): kvm's flavour (a state of one does not load on the other)
  uint32_t abi_version;    // PVM_ABI_VERSION of the monitor that wrote it (the guest runtime in RAM)
  uint64_t ram_size;
  uint64_t pages;  // stored pages (bits set in the bitmap)
  uint64_t bitmap_offset;
  uint64_t bitmap_size;
  uint64_t state_offset;
  uint64_t state_size;
  uint64_t data_offset;
  uint64_t generation;  // the boot-info page's when written
  uint64_t source_id;   // the pVM it was taken of (informational)
  uint32_t flags;       // kSnapshotSameClones
  uint32_t reserved;
  char image[1024];  // the image the pVM ran, as the host named it (for ps), NUL-terminated
};
static_assert(sizeof(SnapshotHeader) <= kSnapshotHeaderSize, "the header fits its page");
static_assert(offsetof(SnapshotHeader, image) == 136, "lib/snapshot.ts reads the image path there");

// Streaming XXH64 (seed 0), written here: a fast non-cryptographic checksum.
class Xxh64 {
 public:
  void Update(const void* data, size_t size);
  uint64_t Digest() const;

 private:
  uint64_t v_[4] = {0x60ea27eeadc0b5d6ull, 0xc2b2ae3d27d4eb4full, 0, 0x61c8864e7a143579ull};
  uint8_t buffer_[32];
  size_t buffered_ = 0;
  uint64_t total_ = 0;
};

// The header of the snapshot file fd, checked against this monitor (backend name and
// flags, ABI) and the file's size and checksum; `data` is the whole file mapped read-only
// (the caller unmaps it: data_size bytes). BadSnapshot with why->detail a kSnapshot*.
bool OpenSnapshot(int fd, const char* backend, uint32_t backend_flags, SnapshotHeader* out, const uint8_t** data,
                  size_t* data_size, Failure* why);

// Bit p of a snapshot bitmap.
inline bool PageStored(const uint8_t* bitmap, uint64_t p) { return (bitmap[p / 8] >> (p % 8)) & 1; }

}  // namespace pvm::monitor
