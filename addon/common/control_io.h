// Sending and receiving control messages (see control.h) with optional fds.
// Shared by the addon and the monitor so both frame messages the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/control.h"

namespace pvm::ctl {

// Most fds one message carries.
constexpr int kMaxFds = 8;

struct Message {
  Type type{};
  std::vector<uint8_t> body;  // fixed struct + tail, without the header
  std::vector<int> fds;       // received fds; the receiver owns them

  // The fixed struct at the start of the body, or nullptr if the body is too short.
  template <typename T>
  const T* as() const {
    return body.size() >= sizeof(T) ? reinterpret_cast<const T*>(body.data()) : nullptr;
  }
  // Bytes after the fixed struct T.
  template <typename T>
  std::string tail() const {
    if (body.size() <= sizeof(T)) return {};
    return std::string(reinterpret_cast<const char*>(body.data()) + sizeof(T), body.size() - sizeof(T));
  }
};

// Sends header + fixed + tail as one datagram, with fds attached. Returns 0 or -errno
// (-EAGAIN with nonblocking when the peer's buffer is full). Never raises SIGPIPE.
int send(int sock, Type type, const void* fixed, size_t fixed_size, const void* tail = nullptr,
         size_t tail_size = 0, const int* fds = nullptr, int nfds = 0, bool nonblocking = false);

template <typename T>
int send(int sock, Type type, const T& fixed, const void* tail = nullptr, size_t tail_size = 0,
         const int* fds = nullptr, int nfds = 0) {
  return send(sock, type, &fixed, sizeof(T), tail, tail_size, fds, nfds);
}

// Receives one datagram. Returns 1 with *out filled, 0 on end of stream, -errno on error
// (-EAGAIN on a non-blocking socket with nothing to read, -EBADMSG for a malformed frame;
// fds that came with a malformed frame are closed).
int receive(int sock, Message* out, bool nonblocking);

}  // namespace pvm::ctl
