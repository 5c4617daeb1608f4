// The host-wide pVM id counter (see ctl::kIdCounterSize): mapped by the host and by every
// monitor; a forked monitor inherits the mapping.
#pragma once

#include <cstdint>

namespace pvm {

class IdCounter {
 public:
  IdCounter() = default;
  ~IdCounter();
  IdCounter(const IdCounter&) = delete;
  IdCounter& operator=(const IdCounter&) = delete;

  // A new counter in a fresh memfd (the host). Returns 0 or -errno.
  int Create();
  // Maps the counter in fd (a monitor). Does not take fd. Returns 0 or -errno.
  int Map(int fd);
  // A new id, never 0, unique among everything sharing the counter (0 once closed).
  uint64_t Next();
  // Unmaps and closes now (the host when it closes). Idempotent.
  void Close();
  // The memfd (host only; -1 in a monitor).
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  uint64_t* value_ = nullptr;
};

}  // namespace pvm
