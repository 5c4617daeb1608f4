// Why a monitor step failed: the control-protocol error code, the errno behind it and a
// readable message. Every set-up step returns bool and fills one of these on failure;
// main() turns it into a ctl::Error message.
#pragma once

#include <string>

#include "common/control.h"

namespace pvm::monitor {

struct Failure {
  ctl::ErrorCode code = ctl::ErrorCode::Internal;
  int sys_errno = 0;
  uint32_t detail = 0;  // ErrorCode::BadSnapshot: a kSnapshot* (control.json SnapshotFault)
  std::string message;
};

// Fills *why (printf-style message) and returns false, so callers can write
// `return Fail(why, ...);`.
bool Fail(Failure* why, ctl::ErrorCode code, int sys_errno, const char* format, ...)
    __attribute__((format(printf, 4, 5)));

// Same, for an ioctl or syscall that set errno: message is "<what>: <strerror>".
bool FailErrno(Failure* why, ctl::ErrorCode code, const char* what);

// "16 MiB" when the size is a whole number of MiB, else "12345 bytes".
std::string SizeText(uint64_t bytes);

}  // namespace pvm::monitor
