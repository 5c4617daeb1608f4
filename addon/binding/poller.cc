#include "binding/poller.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace pvm {

namespace {

// epoll data: the monitor (or channel) id in the high bits, which fd in the low two.
enum FdKind : uint64_t { kControlFd = 0, kPidFd = 1, kDoorbellFd = 2 };
constexpr uint64_t kWakeToken = ~0ull;
constexpr int kMessagesPerWake = 64;

uint64_t Token(uint64_t id, FdKind kind) { return (id << 2) | kind; }

void CloseAll(std::vector<int>& fds) {
  for (int fd : fds) close(fd);
  fds.clear();
}

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
  return AddLocked(id, pid, control, pidfd, own_child);
}

int Poller::AddLocked(uint64_t id, pid_t pid, int control, int pidfd, bool own_child) {
  if (stopped_ || entries_.count(id)) {
    close(control);
    close(pidfd);
    return stopped_ ? -ESHUTDOWN : -EEXIST;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Token(id, kControlFd);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, control, &ev) != 0) {
    int saved = -errno;
    close(control);
    close(pidfd);
    return saved;
  }
  ev.data.u64 = Token(id, kPidFd);
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

int Poller::PauseControl(uint64_t id, bool paused) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.control < 0) return -ESRCH;
  epoll_event ev{};
  ev.events = paused ? 0u : static_cast<uint32_t>(EPOLLIN);
  ev.data.u64 = Token(id, kControlFd);
  return epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, it->second.control, &ev) == 0 ? 0 : -errno;
}

int Poller::Send(uint64_t id, ctl::Type type, const void* body, size_t size, const int* fds,
                 int nfds) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.control < 0) return -ESRCH;
  return ctl::send(it->second.control, type, body, size, nullptr, 0, fds, nfds);
}

void Poller::Adopt(ctl::Message* m) {
  const ctl::Forked* f = m->as<ctl::Forked>();
  size_t want = f && f->error == 0 ? (f->host_channel ? 5 : 2) : 0;
  if (!f || m->fds.size() != want) {
    CloseAll(m->fds);
    return;
  }
  if (want == 0) return;
  // The child monitor is the parent monitor's child, not ours: its parent reaps it.
  int rc = AddLocked(f->child_id, static_cast<pid_t>(f->child_pid), m->fds[0], m->fds[1], /*own_child=*/false);
  std::vector<int> rest(m->fds.begin() + 2, m->fds.end());
  m->fds.clear();
  if (rc != 0) {
    CloseAll(rest);
    return;
  }
  if (!f->host_channel) return;
  // [memfd, host doorbell, child doorbell]: the memfd goes on to JS, which maps it.
  if (WatchChannelLocked(f->child_id, rest[1], rest[2]) != 0) {
    close(rest[0]);
    return;
  }
  m->fds.push_back(rest[0]);
}

int Poller::WatchChannel(uint64_t channel, int own_doorbell, int peer_doorbell) {
  std::lock_guard<std::mutex> lock(mutex_);
  return WatchChannelLocked(channel, own_doorbell, peer_doorbell);
}

int Poller::WatchChannelLocked(uint64_t channel, int own_doorbell, int peer_doorbell) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Token(channel, kDoorbellFd);
  int rc = 0;
  if (stopped_) rc = -ESHUTDOWN;
  else if (channels_.count(channel)) rc = -EEXIST;
  else if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, own_doorbell, &ev) != 0) rc = -errno;
  if (rc != 0) {
    close(own_doorbell);
    close(peer_doorbell);
    return rc;
  }
  channels_[channel] = ChannelDoorbells{own_doorbell, peer_doorbell};
  return 0;
}

int Poller::DupPidfd(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.pidfd < 0) return -ESRCH;
  int fd = fcntl(it->second.pidfd, F_DUPFD_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

int Poller::NotifyChannel(uint64_t channel) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) return -ESRCH;
  uint64_t one = 1;
  if (write(it->second.peer, &one, sizeof one) < 0 && errno != EAGAIN) return -errno;
  return 0;
}

void Poller::RemoveChannel(uint64_t channel) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.own, nullptr);
  close(it->second.own);
  close(it->second.peer);
  channels_.erase(it);
}

int Poller::Signal(uint64_t id, int sig, bool has_value, int value) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.pidfd < 0) return -ESRCH;
  siginfo_t info{};
  if (has_value) {
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    info.si_pid = getpid();
    info.si_uid = getuid();
    info.si_value.sival_int = value;
  }
  if (syscall(SYS_pidfd_send_signal, it->second.pidfd, sig, has_value ? &info : nullptr, 0) != 0) return -errno;
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
    for (auto& [id, bells] : channels_) {
      close(bells.own);
      close(bells.peer);
    }
    channels_.clear();
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

void Poller::OnControl(Entry& e, std::vector<MonitorEvent>& out, bool drain) {
  // A bounded batch per wake-up (epoll is level-triggered and comes back), so one busy
  // monitor cannot keep this thread, and the other monitors, waiting.
  for (int taken = 0; drain || taken < kMessagesPerWake; taken++) {
    MonitorEvent ev;
    ev.id = e.id;
    int rc = ctl::receive(e.control, &ev.message, /*nonblocking=*/true);
    if (rc == -EAGAIN || rc == -EWOULDBLOCK) return;
    if (rc == 1) {
      ev.kind = MonitorEvent::Kind::Message;
      if (ev.message.type == ctl::Type::Forked) Adopt(&ev.message);
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
        if ((token & 3) == kDoorbellFd) {
          auto ch = channels_.find(token >> 2);
          if (ch == channels_.end()) continue;
          uint64_t value;
          (void)!read(ch->second.own, &value, sizeof value);
          MonitorEvent ev;
          ev.kind = MonitorEvent::Kind::Doorbell;
          ev.id = ch->first;
          batch.push_back(std::move(ev));
          continue;
        }
        auto it = entries_.find(token >> 2);
        if (it == entries_.end()) continue;
        Entry& e = it->second;
        bool is_pidfd = (token & 3) == kPidFd;
        if (is_pidfd && e.pidfd >= 0) {
          // Drain every message before reporting the end, so an exit message is never lost.
          if (e.control >= 0) OnControl(e, batch, /*drain=*/true);
          OnProcessEnd(e, batch, /*block=*/false);
        } else if (e.control >= 0) {
          OnControl(e, batch, /*drain=*/false);
        }
        if (e.control < 0 && e.pidfd < 0) entries_.erase(it);
      }
    }
    if (!batch.empty()) deliver_(std::move(batch));
  }
}

}  // namespace pvm
