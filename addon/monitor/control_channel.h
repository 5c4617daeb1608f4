// The monitor's end of the control socket (protocol in common/control.h). Sends block
// only as long as the host is slow to read (they are small datagrams); when the host
// has gone (EPIPE and the like) the monitor exits at once: nobody is left to report to.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/control.h"
#include "common/control_io.h"
#include "monitor/failure.h"

namespace pvm::monitor {

struct BootRequest {
  ctl::Boot boot{};
  int image_fd = -1;       // owned by the caller once received
  int registry_fd = -1;  // likewise
  int files_fd = -1;     // likewise (kBootFiles), else -1
  std::string arg_bytes;               // the message tail: argc NUL-terminated strings
  std::vector<std::string_view> args;  // views into arg_bytes, without the NULs
  bool has_env = false;                // kBootEnv
  std::vector<std::string_view> env;   // likewise, the strings after the arguments
};

// What the host asked of a running pVM, collected by PollHost, served at a clean exit.
struct HostRequests {
  struct Attach {
    ctl::AttachRequest request;
    int fds[4];  // memfd, own doorbell, peer doorbell, peer pidfd or -1: owned until served
  };
  struct Exec {
    uint64_t tag;
    uint64_t ram_size;
    std::vector<std::string> args;
    int image_fd;  // owned until served
  };
  struct Snapshot {
    uint64_t tag;
    int fd;  // the file to write: owned until served
    std::string image;  // the image path the host named (stored for ps)
  };
  std::vector<uint64_t> forks;  // fork request tags
  std::vector<uint64_t> resets;  // reset request tags
  std::vector<Attach> attaches;
  std::vector<Exec> execs;
  std::vector<Snapshot> snapshots;
  std::string input;       // standard input the host sent (Stdin), in order
  bool input_end = false;  // and its end came (kStdinEnd)
  bool empty() const {
    return forks.empty() && attaches.empty() && execs.empty() && snapshots.empty() && resets.empty() &&
           input.empty() && !input_end;
  }
  void Clear();  // closes the fds of attaches not served
};

class ControlChannel {
 public:
  explicit ControlChannel(int fd) : fd_(fd) {}

  // Called with true when a send must wait for the host to read (its buffer is full),
  // and with false once it went: the pVM's activity says so meanwhile.
  void SetOnBlocked(std::function<void(bool)> hook) { on_blocked_ = std::move(hook); }

  // Waits for the Boot message and checks its framing and arguments. BadConfig on a
  // malformed one; exits if the host hangs up first.
  bool ReceiveBoot(BootRequest* out, Failure* why);

  void SendReady(const ctl::Ready& ready);
  void SendStarted(uint64_t first_exit_ns);
  // Any number of bytes: cut into datagrams that fit.
  void SendConsole(const uint8_t* bytes, size_t size);
  // Stamps exit_ns.
  void SendExit(ctl::Exit exit);
  void SendError(const Failure& failure);
  // The fds go with the message (SCM_RIGHTS); the caller still owns them.
  void SendForked(const ctl::Forked& forked, const int* fds, int nfds);

  // After a kick: reads what the host sent without blocking and adds its requests to
  // *out. Exits if the host hung up.
  void PollHost(HostRequests* out);
  // Reads (blocking) until the end of standard input has come (kStdinEnd), adding what
  // comes to *out. Exits if the host hung up.
  void ReceiveInputEnd(HostRequests* out);
  void SendAttached(const ctl::Attached& attached);
  void SendSpare(uint64_t pid);
  void SendResetDone(const ctl::ResetDone& done);
  void SendExeced(const ctl::Execed& execed, const std::string& why = {});
  void SendSnapshotted(const ctl::Snapshotted& done, const std::string& why = {});
  // A guest's EXEC: asks the host for the image `path` (0, or -E2BIG if the request
  // does not fit a message); the answer comes with TakeExecImage.
  int SendExecRequest(const std::string& path, const std::vector<std::string>& args, uint64_t ram_size);
  // True once the host's answer has come, with *result the image fd or -errno (other
  // requests read meanwhile go to *stash). Never blocks.
  bool TakeExecImage(HostRequests* stash, int* result);

  // Asks for SIGIO whenever the host sends something or hangs up, so a vCPU blocked in
  // the guest can be kicked out (see KvmBackend::SetKickSignals).
  bool EnableKick(Failure* why);

  int fd() const { return fd_; }

 private:
  // One host message: a request goes to *out; anything else is dropped.
  void Dispatch(ctl::Message* m, HostRequests* out);
  void Send(ctl::Type type, const void* fixed, size_t fixed_size, const void* tail = nullptr, size_t tail_size = 0,
            const int* fds = nullptr, int nfds = 0);
  // TakeExecImage's reading: the fd, -errno, or kNoAnswer.
  static constexpr int kNoAnswer = 1 << 30;
  int Answer(HostRequests* stash);

  int fd_;
  std::function<void(bool)> on_blocked_;
};

}  // namespace pvm::monitor
