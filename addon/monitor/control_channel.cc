#include "monitor/control_channel.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/control_io.h"
#include "monitor/clock.h"

namespace pvm::monitor {

namespace {

// Largest console tail one datagram carries.
constexpr size_t kConsoleChunk = ctl::kMaxMessage - sizeof(ctl::Header);

[[noreturn]] void HostGone() {
  // The host closed its end or died (then PR_SET_PDEATHSIG is on its way anyway).
  _exit(0);
}

void CloseFds(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

}  // namespace

bool ControlChannel::ReceiveBoot(BootRequest* out, Failure* why) {
  ctl::Message m;
  int rc = ctl::receive(fd_, &m, /*nonblocking=*/false);
  if (rc == 0) HostGone();
  if (rc < 0) {
    if (rc == -EBADMSG) return Fail(why, ctl::ErrorCode::BadConfig, EBADMSG, "malformed control message");
    HostGone();
  }
  if (m.type != ctl::Type::Boot) {
    CloseFds(m.fds);
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "expected a Boot message, got type %u", static_cast<unsigned>(m.type));
  }
  const ctl::Boot* boot = m.as<ctl::Boot>();
  size_t want_fds = boot && (boot->flags & ctl::kBootFiles) ? 3 : 2;
  if (!boot || m.fds.size() != want_fds) {
    CloseFds(m.fds);
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "Boot message needs the fixed part and exactly %zu fds (has %zu)",
                want_fds, m.fds.size());
  }
  out->boot = *boot;
  out->image_fd = m.fds[0];
  out->registry_fd = m.fds[1];
  out->files_fd = want_fds == 3 ? m.fds[2] : -1;
  out->arg_bytes = m.tail<ctl::Boot>();

  // The tail is exactly argc strings (and envc more with kBootEnv), each ending in NUL.
  const std::string& bytes = out->arg_bytes;
  out->args.clear();
  out->env.clear();
  out->has_env = (boot->flags & ctl::kBootEnv) != 0;
  size_t want = boot->argc + (out->has_env ? static_cast<size_t>(boot->envc) : 0);
  size_t start = 0, n = 0;
  for (size_t i = 0; i < bytes.size(); i++) {
    if (bytes[i] != '\0') continue;
    (n++ < boot->argc ? out->args : out->env).emplace_back(bytes.data() + start, i - start);
    start = i + 1;
  }
  if (start != bytes.size() || n != want) {
    return Fail(why, ctl::ErrorCode::BadConfig, 0, "arguments: expected %zu NUL-terminated strings in %zu bytes",
                want, bytes.size());
  }
  return true;
}

void ControlChannel::Send(ctl::Type type, const void* fixed, size_t fixed_size, const void* tail, size_t tail_size,
                          const int* fds, int nfds) {
  int rc = ctl::send(fd_, type, fixed, fixed_size, tail, tail_size, fds, nfds, /*nonblocking=*/true);
  if (rc == -EAGAIN) {
    // The host is not reading (a console nobody consumes): the pVM waits here, and says so.
    if (on_blocked_) on_blocked_(true);
    rc = ctl::send(fd_, type, fixed, fixed_size, tail, tail_size, fds, nfds);
    if (on_blocked_) on_blocked_(false);
  }
  if (rc != 0) HostGone();
}

void ControlChannel::SendForked(const ctl::Forked& forked, const int* fds, int nfds) {
  Send(ctl::Type::Forked, &forked, sizeof forked, nullptr, 0, fds, nfds);
}

void ControlChannel::SendReady(const ctl::Ready& ready) { Send(ctl::Type::Ready, &ready, sizeof ready); }

void ControlChannel::SendStarted(uint64_t first_exit_ns) {
  ctl::Started started{first_exit_ns};
  Send(ctl::Type::Started, &started, sizeof started);
}

void ControlChannel::SendConsole(const uint8_t* bytes, size_t size) {
  while (size > 0) {
    size_t n = size < kConsoleChunk ? size : kConsoleChunk;
    // No fixed part: the whole body is console bytes.
    Send(ctl::Type::Console, bytes, n);
    bytes += n;
    size -= n;
  }
}

void ControlChannel::SendExit(ctl::Exit exit) {
  exit.exit_ns = MonotonicNs();
  exit.reason[sizeof exit.reason - 1] = '\0';
  Send(ctl::Type::Exit, &exit, sizeof exit);
}

void ControlChannel::SendError(const Failure& failure) {
  ctl::Error error{failure.code, failure.sys_errno, failure.detail, 0};
  Send(ctl::Type::Error, &error, sizeof error, failure.message.data(), failure.message.size());
}

void HostRequests::Clear() {
  for (auto& a : attaches) {
    for (int fd : a.fds) {
      if (fd >= 0) close(fd);
    }
  }
  for (auto& e : execs) close(e.image_fd);
  execs.clear();
  for (auto& s : snapshots) close(s.fd);
  snapshots.clear();
  attaches.clear();
  forks.clear();
  input.clear();
  input_end = false;
  resets.clear();
}

// The strings of a message tail: exactly `count` NUL-terminated ones, or false.
static bool SplitStrings(const std::string& bytes, size_t count, std::vector<std::string>* out) {
  out->clear();
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); i++) {
    if (bytes[i] != '\0') continue;
    out->emplace_back(bytes, start, i - start);
    start = i + 1;
  }
  return start == bytes.size() && out->size() == count;
}

void ControlChannel::Dispatch(ctl::Message* m, HostRequests* out) {
  if (m->type == ctl::Type::Fork && m->fds.empty()) {
    if (const auto* request = m->as<ctl::ForkRequest>()) {
      out->forks.push_back(request->tag);
      return;
    }
  }
  if (m->type == ctl::Type::Reset && m->fds.empty()) {
    if (const auto* request = m->as<ctl::ResetRequest>()) {
      out->resets.push_back(request->tag);
      return;
    }
  }
  if (m->type == ctl::Type::Attach && m->fds.size() >= 1 && m->fds.size() <= 4) {
    const auto* request = m->as<ctl::AttachRequest>();
    bool shm = request && (request->flags & ctl::kAttachShm);
    if (request && (shm ? m->fds.size() == 1 : m->fds.size() >= 3)) {
      if (shm) {
        out->attaches.push_back(HostRequests::Attach{*request, {m->fds[0], -1, -1, -1}});
        return;
      }
      int pidfd = m->fds.size() == 4 ? m->fds[3] : -1;
      out->attaches.push_back(HostRequests::Attach{*request, {m->fds[0], m->fds[1], m->fds[2], pidfd}});
      return;
    }
  }
  if (m->type == ctl::Type::Exec && m->fds.size() == 1) {
    const auto* request = m->as<ctl::Exec>();
    std::vector<std::string> args;
    if (request && SplitStrings(m->tail<ctl::Exec>(), request->argc, &args)) {
      out->execs.push_back(HostRequests::Exec{request->tag, request->ram_size, std::move(args), m->fds[0]});
      return;
    }
  }
  if (m->type == ctl::Type::Snapshot && m->fds.size() == 1) {
    if (const auto* request = m->as<ctl::SnapshotRequest>()) {
      std::string image = m->tail<ctl::SnapshotRequest>();
      out->snapshots.push_back(HostRequests::Snapshot{request->tag, m->fds[0], image.substr(0, image.find('\0'))});
      return;
    }
  }
  if (m->type == ctl::Type::Stdin && m->fds.empty()) {
    if (const auto* data = m->as<ctl::StdinData>()) {
      if (!out->input_end) out->input += m->tail<ctl::StdinData>();  // nothing after the end
      if (data->flags & ctl::kStdinEnd) out->input_end = true;
      return;
    }
  }
  // Anything else is not a request a running pVM takes: dropped.
  CloseFds(m->fds);
}

void ControlChannel::PollHost(HostRequests* out) {
  for (;;) {
    ctl::Message m;
    int rc = ctl::receive(fd_, &m, /*nonblocking=*/true);
    if (rc == -EBADMSG) continue;
    if (rc == -EAGAIN) return;
    if (rc <= 0) HostGone();
    Dispatch(&m, out);
  }
}

void ControlChannel::ReceiveInputEnd(HostRequests* out) {
  while (!out->input_end) {
    ctl::Message m;
    int rc = ctl::receive(fd_, &m, /*nonblocking=*/false);
    if (rc == -EBADMSG || rc == -EINTR) continue;
    if (rc <= 0) HostGone();
    Dispatch(&m, out);
  }
}

int ControlChannel::SendExecRequest(const std::string& path, const std::vector<std::string>& args,
                                    uint64_t ram_size) {
  ctl::ExecRequest request{ram_size, static_cast<uint32_t>(args.size()), 0};
  std::string tail = path + '\0';
  for (const auto& a : args) tail += a + '\0';
  if (sizeof(ctl::Header) + sizeof request + tail.size() > ctl::kMaxMessage) return -E2BIG;
  Send(ctl::Type::ExecRequest, &request, sizeof request, tail.data(), tail.size());
  return 0;
}

bool ControlChannel::TakeExecImage(HostRequests* stash, int* result) {
  *result = Answer(stash);
  return *result != kNoAnswer;
}

int ControlChannel::Answer(HostRequests* stash) {
  for (;;) {
    ctl::Message m;
    int rc = ctl::receive(fd_, &m, /*nonblocking=*/true);
    if (rc == -EBADMSG) continue;
    if (rc == -EAGAIN) return kNoAnswer;
    if (rc <= 0) HostGone();
    if (m.type != ctl::Type::ExecImage) {
      Dispatch(&m, stash);
      continue;
    }
    const auto* answer = m.as<ctl::ExecImage>();
    if (answer && answer->error == 0 && m.fds.size() == 1) return m.fds[0];
    CloseFds(m.fds);
    // Only a real -errno (a wire errno: control.json errors) passes: the error is 64-bit,
    // and a value like -(1 << 32) would truncate to 0 or a positive int, which the caller
    // would take for an fd (and close).
    if (answer && answer->error < 0 && answer->error >= -4095) return static_cast<int>(answer->error);
    return -EIO;
  }
}

void ControlChannel::SendSpare(uint64_t pid) {
  ctl::Spare spare{pid};
  Send(ctl::Type::Spare, &spare, sizeof spare);
}

void ControlChannel::SendResetDone(const ctl::ResetDone& done) { Send(ctl::Type::ResetDone, &done, sizeof done); }

void ControlChannel::SendExeced(const ctl::Execed& execed, const std::string& why) {
  Send(ctl::Type::Execed, &execed, sizeof execed, why.data(), why.size() < 1024 ? why.size() : 1024);
}

void ControlChannel::SendSnapshotted(const ctl::Snapshotted& done, const std::string& why) {
  Send(ctl::Type::Snapshotted, &done, sizeof done, why.data(), why.size() < 1024 ? why.size() : 1024);
}

void ControlChannel::SendAttached(const ctl::Attached& attached) {
  Send(ctl::Type::Attached, &attached, sizeof attached);
}

bool ControlChannel::EnableKick(Failure* why) {
  if (fcntl(fd_, F_SETOWN, getpid()) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "F_SETOWN");
  int flags = fcntl(fd_, F_GETFL);
  if (flags < 0 || fcntl(fd_, F_SETFL, flags | O_ASYNC) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "O_ASYNC on the control socket");
  }
  return true;
}

}  // namespace pvm::monitor
