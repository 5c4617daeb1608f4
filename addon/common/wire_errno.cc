#include "common/wire_errno.h"

#include <cerrno>

#include "pvm/abi.h"

namespace pvm {

// The ABI took Linux's numbers, so a known errno passes as it is; the asserts keep it so.
#define PVM_SAME_AS_LINUX(name, value) static_assert(name == PVM_##name, #name " differs from Linux");
PVM_ERROR_LIST(PVM_SAME_AS_LINUX)
#undef PVM_SAME_AS_LINUX

int64_t WireErrno(int host_errno, int fallback) {
  switch (host_errno) {
#define PVM_KNOWN(name, value) case name:
    PVM_ERROR_LIST(PVM_KNOWN)
#undef PVM_KNOWN
    return -static_cast<int64_t>(host_errno);
    default:
      return -static_cast<int64_t>(fallback);
  }
}

}  // namespace pvm
