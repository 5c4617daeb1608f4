// The host's watcher thread: one epoll over every monitor's control socket and pidfd.
// Messages and process ends are batched and handed to a callback (which forwards them
// to JavaScript through a thread-safe function). Never runs on libuv's thread pool.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/control_io.h"

namespace pvm {

struct MonitorEvent {
  enum class Kind { Message, Closed, Ended, Malformed, Doorbell };
  Kind kind{};
  uint64_t id = 0;          // the monitor's pVM id; Kind::Doorbell: the channel id
  ctl::Message message;    // Kind::Message (a Forked message keeps only the channel memfd)
  // Kind::Ended: how the monitor process ended (known only for our own children).
  bool status_known = false;
  int exit_status = -1;    // exit code, or -1
  int term_signal = 0;     // signal that killed it, or 0
};

class Poller {
 public:
  using Deliver = std::function<void(std::vector<MonitorEvent>&&)>;

  // Returns nullptr and sets *error (-errno) on failure.
  static Poller* Create(Deliver deliver, int* error);
  ~Poller();

  // Watches a monitor. own_child: it is our child, so we reap it. Takes the fds.
  int Add(uint64_t id, pid_t pid, int control, int pidfd, bool own_child);
  // Watches the host's doorbell of host channel `channel` (events of kind Doorbell);
  // takes both fds.
  int WatchChannel(uint64_t channel, int own_doorbell, int peer_doorbell);
  // A new fd for the pidfd of monitor `id` (the caller owns it), or -errno.
  int DupPidfd(uint64_t id);
  // Rings the doorbell of the pVM end of host channel `channel`. -ESRCH if unknown.
  int NotifyChannel(uint64_t channel);
  // Stops watching host channel `channel` and closes its doorbells. Idempotent.
  void RemoveChannel(uint64_t channel);
  // Stops (or resumes) reading monitor `id`'s control socket. While paused, what the
  // monitor sends waits in the socket and then in the monitor: a guest whose console
  // nobody reads is held up at its console flush instead of growing the host. A monitor
  // that ends is still drained. -ESRCH if gone.
  int PauseControl(uint64_t id, bool paused);
  // Sends a control message to a monitor. -ESRCH if it is gone.
  int Send(uint64_t id, ctl::Type type, const void* body, size_t size, const int* fds, int nfds);
  // Signals a monitor through its pidfd (no pid-reuse race). -ESRCH if gone. With
  // has_value the signal is queued with that value (si_value.sival_int).
  int Signal(uint64_t id, int sig, bool has_value = false, int value = 0);
  // How many monitors are still being watched.
  size_t Count();
  // SIGKILLs every monitor, reaps our children, stops the thread. Idempotent.
  void Shutdown();

 private:
  struct Entry {
    uint64_t id;
    pid_t pid;
    int control;  // -1 once closed
    int pidfd;    // -1 once the process ended
    bool own_child;
  };
  struct ChannelDoorbells {
    int own;   // the host waits on it (epoll)
    int peer;  // wakes the pVM
  };
  Poller(int epoll_fd, int wake_fd, Deliver deliver);
  int AddLocked(uint64_t id, pid_t pid, int control, int pidfd, bool own_child);
  int WatchChannelLocked(uint64_t channel, int own_doorbell, int peer_doorbell);
  // A Forked message: watch the child (and its host channel) before anything the
  // child sends can be read, so no message of it is missed.
  void Adopt(ctl::Message* forked);
  void Run();
  void OnControl(Entry& e, std::vector<MonitorEvent>& out, bool drain);
  void OnProcessEnd(Entry& e, std::vector<MonitorEvent>& out, bool block);
  void Forget(Entry& e);

  int epoll_fd_;
  int wake_fd_;
  Deliver deliver_;
  std::mutex mutex_;
  std::map<uint64_t, Entry> entries_;
  std::map<uint64_t, ChannelDoorbells> channels_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace pvm
