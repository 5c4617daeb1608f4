// Helpers the three fuzz harnesses share: reading structured values off the fuzzer's
// bytes, checking invariants, counting open fds. Header only: each harness is one
// translation unit plus this.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

namespace pvm::fuzz {

// A cursor over the input. Reading past the end gives zeros: every input decodes to
// something, so the fuzzer never wastes runs on "too short".
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return pos_ < size_ ? size_ - pos_ : 0; }

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | Byte() << 8); }
  uint32_t U32() { return static_cast<uint32_t>(U16()) | static_cast<uint32_t>(U16()) << 16; }
  uint64_t U64() { return static_cast<uint64_t>(U32()) | static_cast<uint64_t>(U32()) << 32; }

  // Up to n bytes (fewer at the end of the input).
  std::span<const uint8_t> Bytes(size_t n) {
    size_t take = n < remaining() ? n : remaining();
    std::span<const uint8_t> out(data_ + pos_, take);
    pos_ += take;
    return out;
  }
  std::span<const uint8_t> Rest() { return Bytes(remaining()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// An invariant the code under test broke: report and abort, which both libFuzzer and
// the replay runner count as a crash.
[[noreturn]] inline void Violation(const char* format, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] inline void Violation(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  fprintf(stderr, "\n==== pvm fuzz: invariant violated: ");
  vfprintf(stderr, format, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(stderr);
  abort();
}

#define PVM_FUZZ_CHECK(cond, ...)       \
  do {                                  \
    if (!(cond)) ::pvm::fuzz::Violation(__VA_ARGS__); \
  } while (0)

// Open fds of this process (the harnesses check that one input leaves as many open as
// it found: a leak in the code under test grows it).
inline int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') n++;
  }
  closedir(dir);
  return n - 1;  // the directory's own fd
}

// stdin, stdout and stderr must survive whatever the code under test did with fds it
// was handed (a bad fd number would show here as one of these being closed).
inline void CheckStdio(const char* after) {
  for (int fd = 0; fd <= 2; fd++) {
    PVM_FUZZ_CHECK(fcntl(fd, F_GETFD) != -1, "fd %d was closed by %s", fd, after);
  }
}

// Checks that an input leaves as many fds open as it found (the harness's own fds made
// once are made before `before` is taken).
inline void CheckNoFdLeak(const char* harness, int before) {
  int now = CountOpenFds();
  PVM_FUZZ_CHECK(now == before, "%s: %d fds open after the input, %d before: an fd leaked or was closed twice",
                 harness, now, before);
}

// Makes sure fds 0..2 exist (a replay under a test runner may start without stdin):
// the stdio check above must not fire on the environment.
inline void EnsureStdio() {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) == -1) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) {
        dup2(null, fd);
        close(null);
      }
    }
  }
}

}  // namespace pvm::fuzz
