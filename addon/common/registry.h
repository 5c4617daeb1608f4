// The host-wide pVM registry: one memfd the host creates and every monitor maps (passed
// at Boot; a forked monitor inherits the mapping). It holds the id counter, so a guest's
// fork needs no round trip to the host, and a table of pVMs (id, parent, monitor pid,
// how it ended) the monitors use to route signals, wait for children and enforce the
// family rule without asking the host.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pvm {

struct RegistryEntry {
  uint64_t id;         // 0: free; the table slot is id % kRegistryEntries
  uint64_t parent_id;  // 0 for a pVM the host spawned
  int32_t pid;         // its monitor, 0 until known
  uint32_t state;      // RegistryState
  uint32_t exit_kind;  // once ended: PVM_WAIT_EXIT, _FAULT or _KILLED (as WAITPID reports)
  int32_t exit_code;   // exit code, or the signal
  // What the pVM is doing now, written by its monitor for `pvm ps` and Pvm.activity (a
  // diagnostic: a reader may see a mix of two updates, never anything unsafe).
  uint32_t activity;     // Activity
  uint32_t on_count;     // WAIT: how many channel slots (the first kActivitySlots below)
  uint64_t since_ns;     // CLOCK_MONOTONIC when the activity began
  uint64_t on;           // WAITPID: the child id waited for (0: any)
  uint32_t on_slots[4];  // WAIT: the slots waited on
};

enum RegistryState : uint32_t { kRegistryFree = 0, kRegistryRunning = 1, kRegistryEnded = 2 };

// What a running pVM's vCPU is doing: running guest code, or blocked in a hypercall.
enum Activity : uint32_t {
  kActivityRunning = 0,
  kActivityWait = 1,      // WAIT on channel slots (doorbells)
  kActivityAccept = 2,    // WAIT with no slots: for the host (a channel to accept, a request)
  kActivityWaitpid = 3,   // WAITPID
  kActivityExec = 4,      // EXEC: waiting for the host to send the image
  kActivityFork = 5,      // FORK: paused while the clone is made
  kActivityHostFull = 6,  // sending to the host, which is not reading (console backpressure)
};
constexpr uint32_t kActivitySlots = 4;

constexpr size_t kRegistryEntries = 65536;
constexpr size_t kRegistryHeader = 4096;  // id counter at 0, live pVMs at 8, their limit at 16
constexpr size_t kRegistrySize = kRegistryHeader + kRegistryEntries * sizeof(RegistryEntry);

// What `pvm ps` sees of a registry: the pVMs running now, and the host's figures.
struct RegistryView {
  uint64_t live = 0;
  uint64_t limit = 0;
  std::vector<RegistryEntry> running;
};

// Reads the registry in fd without joining it (read-only mapping; another process's
// registry, opened through /proc). Returns 0 or -errno (-EINVAL: not a registry).
int ReadRegistry(int fd, RegistryView* out);

class Registry {
 public:
  Registry() = default;
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A new registry in a fresh memfd (the host), allowing max_live pVMs at once (a fork
  // beyond gets EAGAIN: fork bombs stop there). Returns 0 or -errno.
  int Create(uint64_t max_live);
  // Maps the registry in fd (a monitor). Does not take fd. Returns 0 or -errno.
  int Map(int fd);
  // Unmaps and closes now (the host when it closes). Idempotent.
  void Close();
  // The memfd (host only; -1 in a monitor).
  int fd() const { return fd_; }

  // A new id, never 0, unique among everything sharing the registry (0 once closed).
  uint64_t NextId();
  // pVMs running now, and whether one more may start.
  uint64_t Live() const;
  bool Full() const;
  // The entry of live or ended pVM `id`, or nullptr (unknown, or its slot was reused).
  RegistryEntry* Find(uint64_t id) const;
  // Claims id's slot for a new pVM (state running).
  void Add(uint64_t id, uint64_t parent_id, pid_t pid);
  void SetPid(uint64_t id, pid_t pid);
  // Frees id's slot (a pVM that was never made after all).
  void Remove(uint64_t id);
  // Records how the pVM ended. Only the first call counts.
  void MarkEnded(uint64_t id, uint32_t exit_kind, int32_t exit_code);
  // Records what pVM id is doing now (since now_ns); slots only for WAIT.
  void SetActivity(uint64_t id, Activity activity, uint64_t now_ns, uint64_t on = 0, const uint32_t* slots = nullptr,
                   uint32_t count = 0);
  // True if a and b are the same pVM or one descends from the other.
  bool Related(uint64_t a, uint64_t b) const;

 private:
  RegistryEntry* Slot(uint64_t id) const;
  uint64_t* Header() const;

  int fd_ = -1;
  uint8_t* base_ = nullptr;
};

}  // namespace pvm
