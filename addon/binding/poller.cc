#include "binding/poller.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace pvm {

namespace {

// epoll data: the monitor id in the high bits, which fd in bit 0.
constexpr uint64_t kPidfdBit = 1;
constexpr uint64_t kWakeToken = ~0ull;

uint64_t Token(uint64_t id, bool pidfd) { return (id << 1) | (pidfd ? kPidfdBit : 0); }

}  // namespace

Poller* Poller::Create(Deliver deliver, int* error) {
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) {
    *error = -errno;
    return nullptr;
  }
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    *error = -errno;
    close(epoll_fd);
    return nullptr;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
  return new Poller(epoll_fd, wake_fd, std::move(deliver));
}

Poller::Poller(int epoll_fd, int wake_fd, Deliver deliver)
    : epoll_fd_(epoll_fd), wake_fd_(wake_fd), deliver_(std::move(deliver)) {
  thread_ = std::thread([this] { Run(); });
}

Poller::~Poller() { Shutdown(); }

int Poller::Add(uint64_t id, pid_t pid, int control, int pidfd, bool own_child) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopped_ || entries_.count(id)) {
    close(control);
    close(pidfd);
    return stopped_ ? -ESHUTDOWN : -EEXIST;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Token(id, false);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, control, &ev) != 0) {
    int saved = -errno;
    close(control);
    close(pidfd);
    return saved;
  }
  ev.data.u64 = Token(id, true);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev) != 0) {
    int saved = -errno;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, control, nullptr);
    close(control);
    close(pidfd);
    return saved;
  }
  entries_[id] = Entry{id, pid, control, pidfd, own_child};
  return 0;
}

int Poller::Send(uint64_t id, ctl::Type type, const void* body, size_t size, const int* fds,
                 int nfds) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.control < 0) return -ESRCH;
  return ctl::send(it->second.control, type, body, size, nullptr, 0, fds, nfds);
}

int Poller::Signal(uint64_t id, int sig) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.pidfd < 0) return -ESRCH;
  if (syscall(SYS_pidfd_send_signal, it->second.pidfd, sig, nullptr, 0) != 0) return -errno;
  return 0;
}

size_t Poller::Count() {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void Poller::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [id, e] : entries_) {
      if (e.pidfd >= 0) syscall(SYS_pidfd_send_signal, e.pidfd, SIGKILL, nullptr, 0);
    }
    std::vector<MonitorEvent> ignored;
    for (auto& [id, e] : entries_) {
      if (e.pidfd >= 0) OnProcessEnd(e, ignored, /*block=*/true);
      Forget(e);
    }
    entries_.clear();
  }
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  // Release the fds now, not when JS garbage-collects the host object.
  close(epoll_fd_);
  close(wake_fd_);
  epoll_fd_ = wake_fd_ = -1;
}

void Poller::Forget(Entry& e) {
  if (e.control >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e.control, nullptr);
    close(e.control);
    e.control = -1;
  }
  if (e.pidfd >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e.pidfd, nullptr);
    close(e.pidfd);
    e.pidfd = -1;
  }
}

void Poller::OnControl(Entry& e, std::vector<MonitorEvent>& out) {
  for (;;) {
    MonitorEvent ev;
    ev.id = e.id;
    int rc = ctl::receive(e.control, &ev.message, /*nonblocking=*/true);
    if (rc == -EAGAIN || rc == -EWOULDBLOCK) return;
    if (rc == 1) {
      ev.kind = MonitorEvent::Kind::Message;
      out.push_back(std::move(ev));
      continue;
    }
    if (rc == -EBADMSG) {
      ev.kind = MonitorEvent::Kind::Malformed;
      out.push_back(std::move(ev));
      continue;
    }
    // End of stream or a socket error: the monitor is gone or going.
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e.control, nullptr);
    close(e.control);
    e.control = -1;
    ev.kind = MonitorEvent::Kind::Closed;
    out.push_back(std::move(ev));
    return;
  }
}

void Poller::OnProcessEnd(Entry& e, std::vector<MonitorEvent>& out, bool block) {
  MonitorEvent ev;
  ev.kind = MonitorEvent::Kind::Ended;
  ev.id = e.id;
  if (e.own_child) {
    siginfo_t info{};
    int rc;
    do {
      rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(e.pidfd), &info,
                  WEXITED | (block ? 0 : WNOHANG));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 || info.si_pid == 0) {
      if (!block && rc == 0) return;  // not ended after all
    } else {
      ev.status_known = true;
      if (info.si_code == CLD_EXITED) ev.exit_status = info.si_status;
      else ev.term_signal = info.si_status;
    }
  }
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, e.pidfd, nullptr);
  close(e.pidfd);
  e.pidfd = -1;
  out.push_back(std::move(ev));
}

void Poller::Run() {
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::vector<MonitorEvent> batch;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return;
      for (int i = 0; i < n; i++) {
        uint64_t token = events[i].data.u64;
        if (token == kWakeToken) continue;
        auto it = entries_.find(token >> 1);
        if (it == entries_.end()) continue;
        Entry& e = it->second;
        bool is_pidfd = token & kPidfdBit;
        // Drain messages before reporting the end, so an exit message is never lost.
        if (e.control >= 0) OnControl(e, batch);
        if (is_pidfd && e.pidfd >= 0) {
          if (e.control >= 0) OnControl(e, batch);
          OnProcessEnd(e, batch, /*block=*/false);
        }
        if (e.control < 0 && e.pidfd < 0) entries_.erase(it);
      }
    }
    if (!batch.empty()) deliver_(std::move(batch));
  }
}

}  // namespace pvm
