#include "common/control_io.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pvm::ctl {

int send(int sock, Type type, const void* fixed, size_t fixed_size, const void* tail,
         size_t tail_size, const int* fds, int nfds, bool nonblocking) {
  if (nfds < 0 || nfds > kMaxFds) return -EINVAL;
  if (sizeof(Header) + fixed_size + tail_size > kMaxMessage) return -EMSGSIZE;
  Header header{type, static_cast<uint32_t>(fixed_size + tail_size)};
  iovec iov[3] = {
      {&header, sizeof header},
      {const_cast<void*>(fixed), fixed_size},
      {const_cast<void*>(tail), tail_size},
  };
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = tail_size ? 3 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (nfds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
  }
  for (;;) {
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
    if (n >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

int receive(int sock, Message* out, bool nonblocking) {
  out->fds.clear();
  out->body.resize(kMaxMessage);
  Header header{};
  iovec iov[2] = {{&header, sizeof header}, {out->body.data(), out->body.size()}};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  for (;;) {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | (nonblocking ? MSG_DONTWAIT : 0));
    if (n >= 0) break;
    if (errno != EINTR) return -errno;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; i++) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        out->fds.push_back(fd);
      }
    }
  }
  if (n == 0 && out->fds.empty()) return 0;
  bool malformed = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
                   static_cast<size_t>(n) < sizeof header ||
                   header.size != static_cast<size_t>(n) - sizeof header;
  if (malformed) {
    for (int fd : out->fds) close(fd);
    out->fds.clear();
    return -EBADMSG;
  }
  out->type = header.type;
  out->body.resize(header.size);
  return 1;
}

}  // namespace pvm::ctl
