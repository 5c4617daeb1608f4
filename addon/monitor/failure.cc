#include "monitor/failure.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace pvm::monitor {

bool Fail(Failure* why, ctl::ErrorCode code, int sys_errno, const char* format, ...) {
  char text[512];
  va_list ap;
  va_start(ap, format);
  vsnprintf(text, sizeof text, format, ap);
  va_end(ap);
  why->code = code;
  why->sys_errno = sys_errno;
  why->message = text;
  return false;
}

bool FailErrno(Failure* why, ctl::ErrorCode code, const char* what) {
  int err = errno;
  return Fail(why, code, err, "%s: %s", what, strerror(err));
}

std::string SizeText(uint64_t bytes) {
  constexpr uint64_t kMiB = 1024 * 1024;
  char text[48];
  if (bytes != 0 && bytes % kMiB == 0) {
    snprintf(text, sizeof text, "%llu MiB", static_cast<unsigned long long>(bytes / kMiB));
  } else {
    snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  return text;
}

}  // namespace pvm::monitor
