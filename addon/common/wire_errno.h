// The one place a host errno becomes an error of the wire (control.json "errors"):
// every error field of the control protocol carries 0 or -value of hypercalls/abi.json's
// errors, the numbers a guest sees too. Used by the monitor and the addon alike.
#pragma once

#include <cstdint>

namespace pvm {

// -PVM_E<name> for a host errno the ABI has (the same number: checked at compile time),
// else -fallback (a PVM_E* value) for one it has not, and for 0.
int64_t WireErrno(int host_errno, int fallback);

}  // namespace pvm
