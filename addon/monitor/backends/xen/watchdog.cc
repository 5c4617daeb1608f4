#include "monitor/backends/xen/watchdog.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "monitor/backends/xen/owner_tag.h"

namespace pvm::monitor::xen {

namespace {

// One record on the socket (SOCK_SEQPACKET: one message each, Hold's fd with it).
struct Order {
  char op;  // 'A'rm, 'D'isarm, 'H'old (an fd comes with it), 'R'elease
  uint32_t domid;
  uint32_t index;
};

bool Send(int sock, const Order& order, int fd = -1) {
  if (sock < 0) return false;
  iovec iov{const_cast<Order*>(&order), sizeof order};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  ssize_t n;
  do n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == sizeof order;
}

// The next order and its fd (-1 if none); false at EOF.
bool Receive(int sock, Order* order, int* fd) {
  *fd = -1;
  for (;;) {
    iovec iov{order, sizeof *order};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(fd, CMSG_DATA(c), sizeof *fd);
    if (n == sizeof *order) return true;
    if (*fd >= 0) close(*fd);  // not an order of ours: dropped
  }
}

[[noreturn]] void Watch(int in, OwnerTag owner) {
  setsid();
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2, SIGIO}) signal(s, SIG_IGN);
  prctl(PR_SET_NAME, "pvm-xen-watch");
  std::set<uint32_t> armed;
  std::map<std::pair<uint32_t, uint32_t>, int> held;  // (domid, region) -> its pages
  auto release = [&](uint32_t domid) {
    for (auto it = held.lower_bound({domid, 0}); it != held.end() && it->first.first == domid;) {
      close(it->second);
      it = held.erase(it);
    }
  };
  Order order;
  int fd;
  while (Receive(in, &order, &fd)) {
    std::pair<uint32_t, uint32_t> key{order.domid, order.index};
    switch (order.op) {
      case 'A':
        armed.insert(order.domid);
        break;
      case 'D':  // the monitor destroyed it: its regions' pages may go
        armed.erase(order.domid);
        release(order.domid);
        break;
      case 'H':
        if (fd < 0) break;
        if (auto it = held.find(key); it != held.end()) close(it->second);
        held[key] = fd;
        fd = -1;
        break;
      case 'R':
        if (auto it = held.find(key); it != held.end()) {
          close(it->second);
          held.erase(it);
        }
        break;
    }
    if (fd >= 0) close(fd);
  }
  // EOF: the monitor is gone. Its domains first, their pages after (exit closes them).
  if (!armed.empty()) {
    xc_interface* xc = xc_interface_open(nullptr, nullptr, 0);
    for (uint32_t id : armed) {
      xc_domaininfo_t info{};
      OwnerTag tag;
      // Only the domain this monitor made: same id and its owner tag.
      if (xc && xc_domain_getinfolist(xc, id, 1, &info) == 1 && info.domain == id && OwnerTag::Read(info.handle, &tag) &&
          tag == owner) {
        xc_domain_destroy(xc, id);
      } else if (!xc) {
        // Cannot destroy it: better to leak its pages than free them under a live domain.
        pause();
      }
    }
    // Templates (memshr forks) that nothing is a fork of any more.
    if (xc) CollectTemplates(xc);
    if (xc) xc_interface_close(xc);
  }
  _exit(0);
}

}  // namespace

bool Watchdog::Start(Failure* why) {
  if (fd_ >= 0) return true;
  int p[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen watchdog: socketpair");
  }
  OwnerTag owner = OwnerTag::Self();
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return FailErrno(why, ctl::ErrorCode::Internal, "xen watchdog: fork");
  }
  if (pid == 0) {
    // Nothing of the monitor's but the socket: not the control socket, not stdio's pipes
    // (the host would wait for their EOF).
    close(p[1]);
    int in = dup2(p[0], 3) < 0 ? p[0] : 3;
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2; fd++) dup2(null, fd);
    close_range(in + 1, ~0u, 0);
    Watch(in, owner);
  }
  close(p[0]);
  fd_ = p[1];
  pid_ = pid;
  return true;
}

void Watchdog::Arm(uint32_t domid) { Send(fd_, Order{'A', domid, 0}); }
void Watchdog::Disarm(uint32_t domid) { Send(fd_, Order{'D', domid, 0}); }

bool Watchdog::Hold(uint32_t domid, uint32_t index, int fd, Failure* why) {
  if (!Send(fd_, Order{'H', domid, index}, fd)) return FailErrno(why, ctl::ErrorCode::Internal, "xen watchdog: handing it a region");
  return true;
}

void Watchdog::Release(uint32_t domid, uint32_t index) { Send(fd_, Order{'R', domid, index}); }

void Watchdog::Stop() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace pvm::monitor::xen
