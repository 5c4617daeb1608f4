#include "monitor/snapshot_file.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full, kP3 = 0x165667B19E3779F9ull,
                   kP4 = 0x85EBCA77C2B2AE63ull, kP5 = 0x27D4EB2F165667C5ull;

inline uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t Read64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline uint64_t Round(uint64_t acc, uint64_t input) { return Rotl(acc + input * kP2, 31) * kP1; }
inline uint64_t Merge(uint64_t acc, uint64_t v) { return (acc ^ Round(0, v)) * kP1 + kP4; }

bool Bad(Failure* why, uint32_t detail, const char* format, ...) __attribute__((format(printf, 3, 4)));
bool Bad(Failure* why, uint32_t detail, const char* format, ...) {
  char text[240];
  va_list ap;
  va_start(ap, format);
  vsnprintf(text, sizeof text, format, ap);
  va_end(ap);
  int saved = errno;
  Fail(why, ctl::ErrorCode::BadSnapshot, 0, "bad snapshot: %s", text);
  why->detail = detail;
  why->sys_errno = detail == ctl::kSnapshotUnreadable ? saved : 0;
  return false;
}

}  // namespace

void Xxh64::Update(const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_ += size;
  if (buffered_ + size < 32) {
    std::memcpy(buffer_ + buffered_, p, size);
    buffered_ += size;
    return;
  }
  if (buffered_) {
    size_t fill = 32 - buffered_;
    std::memcpy(buffer_ + buffered_, p, fill);
    for (int i = 0; i < 4; i++) v_[i] = Round(v_[i], Read64(buffer_ + 8 * i));
    p += fill;
    size -= fill;
    buffered_ = 0;
  }
  uint64_t v0 = v_[0], v1 = v_[1], v2 = v_[2], v3 = v_[3];
  for (; size >= 32; p += 32, size -= 32) {
    v0 = Round(v0, Read64(p));
    v1 = Round(v1, Read64(p + 8));
    v2 = Round(v2, Read64(p + 16));
    v3 = Round(v3, Read64(p + 24));
  }
  v_[0] = v0, v_[1] = v1, v_[2] = v2, v_[3] = v3;
  std::memcpy(buffer_, p, size);
  buffered_ = size;
}

uint64_t Xxh64::Digest() const {
  uint64_t h;
  if (total_ >= 32) {
    h = Rotl(v_[0], 1) + Rotl(v_[1], 7) + Rotl(v_[2], 12) + Rotl(v_[3], 18);
    for (uint64_t v : v_) h = Merge(h, v);
  } else {
    h = v_[2] + kP5;  // the seed
  }
  h += total_;
  const uint8_t* p = buffer_;
  size_t n = buffered_;
  for (; n >= 8; p += 8, n -= 8) h = Rotl(h ^ Round(0, Read64(p)), 27) * kP1 + kP4;
  if (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    h = Rotl(h ^ (static_cast<uint64_t>(w) * kP1), 23) * kP2 + kP3;
    p += 4;
    n -= 4;
  }
  for (; n > 0; p++, n--) h = Rotl(h ^ (*p * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

bool OpenSnapshot(int fd, const char* backend, uint32_t backend_flags, SnapshotHeader* out, const uint8_t** data,
                  size_t* data_size, Failure* why) {
  *data = nullptr;
  *data_size = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return Bad(why, ctl::kSnapshotUnreadable, "cannot stat the file: %s", strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Bad(why, ctl::kSnapshotUnreadable, "not a regular file");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  SnapshotHeader h{};
  ssize_t got = pread(fd, &h, sizeof h, 0);
  if (got < 0) {
    return Bad(why, ctl::kSnapshotUnreadable, "cannot read the header: %s", strerror(errno));
  }
  // The order says the most useful thing first: not a snapshot at all, another format,
  // cut short, then corrupted (checksum); only then what the header says.
  size_t magic_seen = static_cast<size_t>(got) < sizeof h.magic ? static_cast<size_t>(got) : sizeof h.magic;
  if (std::memcmp(h.magic, kSnapshotMagic, magic_seen) != 0 || got == 0) {
    return Bad(why, ctl::kSnapshotMagic, "not a pvm snapshot (no magic)");
  }
  if (static_cast<size_t>(got) < offsetof(SnapshotHeader, version) + 4) {
    return Bad(why, ctl::kSnapshotTruncated, "the file ends in its header (%llu bytes)", static_cast<unsigned long long>(size));
  }
  if (h.version != kSnapshotVersion) {
    return Bad(why, ctl::kSnapshotVersion, "format version %u, this pvm reads version %u", h.version, kSnapshotVersion);
  }
  if (size < kSnapshotHeaderSize || static_cast<size_t>(got) < sizeof h) {
    return Bad(why, ctl::kSnapshotTruncated, "the file ends in its header (%llu bytes)", static_cast<unsigned long long>(size));
  }
  if (h.file_size != size) {
    return Bad(why, ctl::kSnapshotTruncated, "the file has %llu bytes, its header says %llu",
               static_cast<unsigned long long>(size), static_cast<unsigned long long>(h.file_size));
  }
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) {
    return Bad(why, ctl::kSnapshotUnreadable, "cannot map the file: %s", strerror(errno));
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(map);
  auto unmap = [&] { munmap(map, size); };
  SnapshotHeader zeroed = h;
  zeroed.checksum = 0;
  Xxh64 sum;
  sum.Update(&zeroed, sizeof zeroed);
  sum.Update(bytes + sizeof h, size - sizeof h);
  if (sum.Digest() != h.checksum) {
    unmap();
    return Bad(why, ctl::kSnapshotChecksum, "checksum mismatch: the file is corrupted");
  }
  h.backend[sizeof h.backend - 1] = '\0';
  h.image[sizeof h.image - 1] = '\0';
  if (std::strcmp(h.backend, backend) != 0 || h.backend_flags != backend_flags) {
    unmap();
    return Bad(why, ctl::kSnapshotBackend, "made on backend '%s' (flags %u), this monitor runs '%s' (flags %u)",
               h.backend, h.backend_flags, backend, backend_flags);
  }
  if (h.abi_version != PVM_ABI_VERSION) {
    unmap();
    return Bad(why, ctl::kSnapshotAbi, "made for pvm ABI %u, this monitor runs ABI %u", h.abi_version,
               static_cast<unsigned>(PVM_ABI_VERSION));
  }
  // Every region inside the file, in order, none overlapping; sizes that match the RAM.
  uint64_t ram_pages = h.ram_size / PVM_PAGE_SIZE;
  bool ok = h.header_size == kSnapshotHeaderSize && h.ram_size % PVM_PAGE_SIZE == 0 && h.ram_size != 0 &&
            h.bitmap_offset == kSnapshotHeaderSize && h.bitmap_size == (ram_pages + 7) / 8 &&
            h.state_offset == h.bitmap_offset + h.bitmap_size && h.state_size > 0 && h.state_size <= kSnapshotMaxState &&
            h.data_offset % PVM_PAGE_SIZE == 0 && h.data_offset >= h.state_offset + h.state_size &&
            h.data_offset - (h.state_offset + h.state_size) < PVM_PAGE_SIZE && h.pages <= ram_pages &&
            h.data_offset <= size && (size - h.data_offset) / PVM_PAGE_SIZE == h.pages &&
            (size - h.data_offset) % PVM_PAGE_SIZE == 0;
  uint64_t counted = 0;
  if (ok) {
    for (uint64_t i = 0; i < h.bitmap_size; i++) counted += __builtin_popcount(bytes[h.bitmap_offset + i]);
  }
  if (!ok || counted != h.pages) {
    unmap();
    return Bad(why, ctl::kSnapshotMalformed, "header fields out of range");
  }
  *out = h;
  *data = bytes;
  *data_size = size;
  return true;
}

}  // namespace pvm::monitor
