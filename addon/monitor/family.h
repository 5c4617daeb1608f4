// What a pVM's monitor keeps of its family (WAITPID, KILL, signals; family.cc).
#pragma once

#include <cstdint>
#include <vector>

namespace pvm::monitor {

struct Family {
  struct Child {
    uint64_t id;
    int pidfd;  // fires when its monitor process is gone (a crash, if it did not report)
  };
  std::vector<Child> children;   // forked by this pVM and not waited for yet
  int child_exit_bell = -1;      // eventfd this pVM's children ring when they end
  int parent_exit_bell = -1;     // the parent's child_exit_bell (forked pVMs only)
  // pVM signals that arrived before there was a boot-info page to post them in (bit n =
  // signal n); once there is one, its pending_signals word is the only record.
  uint64_t pending_signals = 0;
};

}  // namespace pvm::monitor
