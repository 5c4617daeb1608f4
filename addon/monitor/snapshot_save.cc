#include "monitor/snapshot_save.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/wire_errno.h"
#include "monitor/clock.h"
#include "monitor/snapshot_file.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

bool PageIsZero(const uint8_t* page) {
  const uint64_t* w = reinterpret_cast<const uint64_t*>(page);
  uint64_t any = 0;
  for (size_t i = 0; i < PVM_PAGE_SIZE / 8; i += 8) {
    any |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
    if (any) return false;
  }
  return true;
}

// The whole buffer, or false with errno set.
bool WriteAll(int fd, const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Writes and checksums as it goes.
struct Writer {
  int fd;
  Xxh64 sum;
  bool Put(const void* data, size_t size) {
    sum.Update(data, size);
    return WriteAll(fd, data, size);
  }
};

// The file's bytes; false with *error (a host errno) and *what set.
bool Write(const Monitor* m, int fd, const std::string& image, const std::vector<uint8_t>& state_bytes,
           ctl::Snapshotted* done, int* error, const char** what) {
  *error = EIO;
  // Which pages hold something. Pages the monitor cannot touch (page 0, the process
  // backend's floor and stack guard) are never stored: they read as zero in any pVM.
  const GuestMemory& ram = m->backend->memory();
  uint64_t ram_pages = ram.size() / PVM_PAGE_SIZE;
  std::vector<uint8_t> bitmap((ram_pages + 7) / 8, 0);
  uint64_t pages = 0;
  for (uint64_t p = 0; p < ram_pages; p++) {
    const uint8_t* page = ram.GuestBuffer(p * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
    if (!page || PageIsZero(page)) continue;
    bitmap[p / 8] |= static_cast<uint8_t>(1u << (p % 8));
    pages++;
  }

  SnapshotHeader h{};
  std::memcpy(h.magic, kSnapshotMagic, sizeof h.magic);
  h.version = kSnapshotVersion;
  h.header_size = kSnapshotHeaderSize;
  snprintf(h.backend, sizeof h.backend, "%s", m->backend->name());
  h.backend_flags = m->backend->flags();
  h.abi_version = PVM_ABI_VERSION;
  h.ram_size = ram.size();
  h.pages = pages;
  h.bitmap_offset = kSnapshotHeaderSize;
  h.bitmap_size = bitmap.size();
  h.state_offset = h.bitmap_offset + h.bitmap_size;
  h.state_size = state_bytes.size();
  h.data_offset = (h.state_offset + h.state_size + PVM_PAGE_SIZE - 1) / PVM_PAGE_SIZE * PVM_PAGE_SIZE;
  h.file_size = h.data_offset + pages * PVM_PAGE_SIZE;
  h.generation = m->identity.generation;
  if (const uint8_t* g = ram.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_GENERATION_OFFSET, 8)) std::memcpy(&h.generation, g, 8);
  h.source_id = m->identity.id;
  h.flags = m->identity.same_clones ? kSnapshotSameClones : 0;
  snprintf(h.image, sizeof h.image, "%s", image.c_str());

  // Everything in file order, the checksum field zero; then the header again with it.
  Writer w{fd, {}};
  std::vector<uint8_t> head(kSnapshotHeaderSize, 0);
  std::memcpy(head.data(), &h, sizeof h);
  std::vector<uint8_t> pad(h.data_offset - h.state_offset - h.state_size, 0);
  *what = "writing the snapshot";
  if (!w.Put(head.data(), head.size()) || !w.Put(bitmap.data(), bitmap.size()) ||
      !w.Put(state_bytes.data(), state_bytes.size()) || !w.Put(pad.data(), pad.size())) {
    *error = errno;
    return false;
  }
  // Runs of stored pages, each straight from guest RAM in one write.
  for (uint64_t p = 0; p < ram_pages;) {
    if (!PageStored(bitmap.data(), p)) {
      p++;
      continue;
    }
    uint64_t end = p + 1;
    while (end < ram_pages && PageStored(bitmap.data(), end)) end++;
    if (!w.Put(ram.At(p * PVM_PAGE_SIZE, (end - p) * PVM_PAGE_SIZE), (end - p) * PVM_PAGE_SIZE)) {
      *error = errno;
      return false;
    }
    p = end;
  }
  h.checksum = w.sum.Digest();
  std::memcpy(head.data(), &h, sizeof h);
  if (lseek(fd, 0, SEEK_SET) != 0 || !WriteAll(fd, head.data(), sizeof h)) {
    *error = errno;
    return false;
  }
  done->bytes = h.file_size;
  done->pages = pages;
  return true;
}

// Writes the file and tells the host. resume_ns: the parent's resume time once it is
// written there (or, failing that, fallback_ns); nullptr: the pause ends now.
void WriteAndReport(Monitor* m, int fd, const std::string& image, const std::vector<uint8_t>& state,
                    ctl::Snapshotted done, volatile uint64_t* resume_ns, uint64_t fallback_ns) {
  int error = 0;
  const char* what = "";
  std::string why;
  if (!Write(m, fd, image, state, &done, &error, &what)) {
    done.error = WireErrno(error, PVM_ENOMEM);
    why = std::string(what) + ": " + strerror(error);
  }
  close(fd);
  done.resume_ns = resume_ns ? (*resume_ns ? *resume_ns : fallback_ns) : MonotonicNs();
  m->control.SendSnapshotted(done, why);
}

}  // namespace

void ServeSnapshot(Monitor* m, uint64_t tag, int fd, const std::string& image) {
  ctl::Snapshotted done{};
  done.tag = tag;
  done.pause_start_ns = MonotonicNs();
  Failure why;
  std::unique_ptr<SavedState> state = m->backend->SaveState(&why);
  if (!state) {
    done.error = WireErrno(why.sys_errno ? why.sys_errno : EIO, PVM_ENOMEM);
    close(fd);
    done.resume_ns = MonotonicNs();
    m->control.SendSnapshotted(done, why.sys_errno == ENOSYS ? "this backend cannot save a vCPU state"
                                                             : "saving the vCPU state: " + why.message);
    return;
  }
  std::vector<uint8_t> bytes;
  state->Serialize(&bytes);
  // A fork(2) of the monitor writes the file from its copy-on-write RAM while the guest
  // runs on: the pause is the fork's. The writer reports to the host itself (its copy of
  // the control socket; a datagram is never mixed with another) and is reaped by the
  // kernel (monitors ignore SIGCHLD). It touches nothing shared: no registry, no VM.
  // The parent's resume time reaches the writer through a shared page (the writer may
  // be scheduled later than the parent resumes).
  void* shared = mmap(nullptr, PVM_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* resumed = shared == MAP_FAILED ? nullptr : static_cast<volatile uint64_t*>(shared);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(0);
    m->control.SetOnBlocked(nullptr);  // its hook writes the pVM's activity: not the writer's
    uint64_t forked_ns = MonotonicNs();
    WriteAndReport(m, fd, image, bytes, done, resumed, forked_ns);
    _exit(0);
  }
  if (resumed) {
    *resumed = MonotonicNs();
    munmap(shared, PVM_PAGE_SIZE);  // the writer keeps its own mapping of the page
  }
  if (pid > 0) {
    close(fd);
    return;
  }
  // No process for it: written here, the guest paused meanwhile.
  WriteAndReport(m, fd, image, bytes, done, nullptr, 0);
}

}  // namespace pvm::monitor
