#include "common/registry.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pvm {

namespace {

// Deep enough for any family tree a test or a soak builds; bounds a walk over a table
// that a bug could have made cyclic.
constexpr int kMaxDepth = 1024;

}  // namespace

Registry::~Registry() { Close(); }

void Registry::Close() {
  if (base_) munmap(base_, kRegistrySize);
  if (fd_ >= 0) close(fd_);
  base_ = nullptr;
  fd_ = -1;
}

int Registry::Create(uint64_t max_live) {
  int fd = memfd_create("pvm-registry", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  if (ftruncate(fd, kRegistrySize) != 0) {
    int saved = -errno;
    close(fd);
    return saved;
  }
  // Its size never changes: nobody can make another's mapping fault by shrinking it.
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  int rc = Map(fd);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  fd_ = fd;
  Header()[2] = max_live;
  return 0;
}

uint64_t* Registry::Header() const { return reinterpret_cast<uint64_t*>(base_); }

uint64_t Registry::Live() const { return base_ ? __atomic_load_n(&Header()[1], __ATOMIC_RELAXED) : 0; }

bool Registry::Full() const {
  // Racy by design between monitors forking at the same instant: the overshoot is at
  // most one per concurrent fork, and the limit still holds against any bomb.
  return base_ && Live() >= __atomic_load_n(&Header()[2], __ATOMIC_RELAXED);
}

int Registry::Map(int fd) {
  void* p = mmap(nullptr, kRegistrySize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -errno;
  base_ = static_cast<uint8_t*>(p);
  return 0;
}

uint64_t Registry::NextId() {
  if (!base_) return 0;
  return __atomic_add_fetch(reinterpret_cast<uint64_t*>(base_), 1, __ATOMIC_RELAXED);
}

RegistryEntry* Registry::Slot(uint64_t id) const {
  if (!base_ || id == 0) return nullptr;
  return reinterpret_cast<RegistryEntry*>(base_ + kRegistryHeader) + id % kRegistryEntries;
}

RegistryEntry* Registry::Find(uint64_t id) const {
  RegistryEntry* e = Slot(id);
  return e && __atomic_load_n(&e->id, __ATOMIC_ACQUIRE) == id ? e : nullptr;
}

void Registry::Add(uint64_t id, uint64_t parent_id, pid_t pid) {
  RegistryEntry* e = Slot(id);
  if (!e) return;
  e->parent_id = parent_id;
  e->pid = pid;
  e->exit_kind = 0;
  e->exit_code = 0;
  e->activity = kActivityRunning;
  e->on_count = 0;
  e->since_ns = 0;
  e->on = 0;
  __atomic_store_n(&e->state, kRegistryRunning, __ATOMIC_RELEASE);
  __atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
  __atomic_add_fetch(&Header()[1], 1, __ATOMIC_RELAXED);
}

void Registry::SetPid(uint64_t id, pid_t pid) {
  if (RegistryEntry* e = Find(id)) __atomic_store_n(&e->pid, pid, __ATOMIC_RELEASE);
}

void Registry::Remove(uint64_t id) {
  RegistryEntry* e = Find(id);
  if (!e) return;
  uint32_t running = kRegistryRunning;
  if (__atomic_compare_exchange_n(&e->state, &running, kRegistryFree, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    __atomic_sub_fetch(&Header()[1], 1, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&e->id, 0, __ATOMIC_RELEASE);
}

void Registry::MarkEnded(uint64_t id, uint32_t exit_kind, int32_t exit_code) {
  RegistryEntry* e = Find(id);
  if (!e || __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != kRegistryRunning) return;
  e->exit_kind = exit_kind;
  e->exit_code = exit_code;
  // Only the first to end it counts it out (the monitor, or the host after a crash).
  uint32_t running = kRegistryRunning;
  if (__atomic_compare_exchange_n(&e->state, &running, kRegistryEnded, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    __atomic_sub_fetch(&Header()[1], 1, __ATOMIC_RELAXED);
  }
}

void Registry::SetActivity(uint64_t id, Activity activity, uint64_t now_ns, uint64_t on, const uint32_t* slots,
                           uint32_t count) {
  RegistryEntry* e = Find(id);
  if (!e) return;
  for (uint32_t i = 0; i < count && i < kActivitySlots; i++) e->on_slots[i] = slots[i];
  e->on_count = count;
  e->on = on;
  e->since_ns = now_ns;
  __atomic_store_n(&e->activity, activity, __ATOMIC_RELEASE);
}

int ReadRegistry(int fd, RegistryView* out) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return -errno;
  if (static_cast<size_t>(st.st_size) != kRegistrySize) return -EINVAL;
  void* p = mmap(nullptr, kRegistrySize, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return -errno;
  const auto* base = static_cast<const uint8_t*>(p);
  const auto* header = reinterpret_cast<const uint64_t*>(base);
  out->live = __atomic_load_n(&header[1], __ATOMIC_RELAXED);
  out->limit = __atomic_load_n(&header[2], __ATOMIC_RELAXED);
  out->running.clear();
  const auto* table = reinterpret_cast<const RegistryEntry*>(base + kRegistryHeader);
  for (size_t i = 0; i < kRegistryEntries; i++) {
    RegistryEntry e;
    e.id = __atomic_load_n(&table[i].id, __ATOMIC_ACQUIRE);
    if (e.id == 0 || __atomic_load_n(&table[i].state, __ATOMIC_ACQUIRE) != kRegistryRunning) continue;
    e.parent_id = table[i].parent_id;
    e.pid = table[i].pid;
    e.state = kRegistryRunning;
    e.exit_kind = 0;
    e.exit_code = 0;
    e.activity = __atomic_load_n(&table[i].activity, __ATOMIC_ACQUIRE);
    e.on_count = table[i].on_count;
    e.since_ns = table[i].since_ns;
    e.on = table[i].on;
    for (uint32_t s = 0; s < kActivitySlots; s++) e.on_slots[s] = table[i].on_slots[s];
    out->running.push_back(e);
  }
  munmap(p, kRegistrySize);
  return 0;
}

bool Registry::Related(uint64_t a, uint64_t b) const {
  auto descends = [this](uint64_t from, uint64_t ancestor) {
    uint64_t id = from;
    for (int depth = 0; depth < kMaxDepth && id != 0; depth++) {
      if (id == ancestor) return true;
      const RegistryEntry* e = Find(id);
      if (!e) return false;
      id = __atomic_load_n(&e->parent_id, __ATOMIC_ACQUIRE);
    }
    return false;
  };
  return descends(a, b) || descends(b, a);
}

}  // namespace pvm
