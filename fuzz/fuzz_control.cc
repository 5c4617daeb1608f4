// Fuzzes control-message parsing (common/control.h): the framing in ctl::receive; what
// the monitor makes of host messages: the Boot message (ControlChannel::ReceiveBoot),
// requests to a running pVM (ControlChannel::PollHost, which hands each message to
// Dispatch) and the answer to a guest's exec (the exec request); and, the other way,
// how the addon's watcher thread (binding/poller.h) takes what a monitor sends, with the
// fds of Forked messages (Poller::OnControl and Adopt). The datagrams go through a real
// AF_UNIX SOCK_SEQPACKET socketpair, with real fds attached, exactly as the other side
// sends them. Each result is checked against a small reference model of the protocol
// written here from control.h, and every input must leave no fd open.
//
// Input: [mode] [chunk]...
//   chunk = [spec] [length: u16 LE] [length bytes]: one datagram, written raw (the
//           header is part of the bytes, so bad framing is fuzzed too)
//   spec bits 0-3: number of fds attached (0..15; more than ctl::kMaxFds is more than
//                  the receiver takes)
//   spec bits 4-5: which fds, in rotation from this one: an image memfd, a channel-sized
//                  sealed memfd, an eventfd, /dev/null
//   spec bit 6:    64 KiB of zeros appended (a datagram past ctl::kMaxMessage)
//   spec bit 7:    every fd of the kind in bits 4-5, no rotation (e.g. all eventfds,
//                  which the Poller can watch as a forked child's socket and pidfd)
//   mode bits 0-1: 0 ctl::receive, 1 ReceiveBoot, 2 PollHost, 3 the exec request
//   mode bit 2:    (the exec request) an argument vector too long for one message
//   mode bit 3:    instead of all that: the datagrams come from a monitor to the Poller
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "binding/poller.h"
#include "common/control.h"
#include "common/control_io.h"
#include "fuzz/fuzz_common.h"
#include "monitor/boot_setup.h"
#include "monitor/control_channel.h"
#include "pvm/abi.h"

namespace pvm::fuzz {
namespace {

using monitor::ControlChannel;
using monitor::Failure;
using monitor::HostRequests;

constexpr size_t kMaxDatagrams = 32;
constexpr size_t kPadding = 64 * 1024;

// fds a datagram can carry: made once, sent (the kernel dups them) as often as needed.
struct Fixture {
  int fds[4];
  ino_t inodes[4];
  // The pidfd of a process that has ended and been reaped: the Poller's "monitor"
  // (never this process's own: Poller::Shutdown SIGKILLs what it watches).
  int dead_pidfd;
};

int Memfd(const char* name, size_t size, bool seal) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) abort();
  if (seal) fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  return fd;
}

const Fixture& TheFixture() {
  static Fixture f = [] {
    Fixture x;
    x.fds[0] = Memfd("fuzz-image", 4096, false);
    x.fds[1] = Memfd("fuzz-channel", PVM_CHANNEL_SIZE, true);
    x.fds[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    x.fds[3] = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child < 0) abort();
    x.dead_pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));  // a zombie still has one
    waitpid(child, nullptr, 0);
    if (x.dead_pidfd < 0) abort();
    for (int i = 0; i < 4; i++) {
      struct stat st;
      if (x.fds[i] < 0 || fstat(x.fds[i], &st) != 0) abort();
      x.inodes[i] = st.st_ino;
    }
    return x;
  }();
  return f;
}

// One datagram as sent.
struct Datagram {
  std::vector<uint8_t> bytes;  // header and body, with any padding
  std::vector<int> kinds;      // Fixture index of each fd attached
};

// What ctl::receive must make of a datagram.
struct Received {
  int rc;  // 1, 0 (end of stream) or -EBADMSG
  ctl::Type type{};
  std::vector<uint8_t> body;
  size_t nfds = 0;
};

Received Model(const Datagram& d) {
  Received r{};
  size_t n = d.bytes.size();
  if (n == 0 && d.kinds.empty()) {
    r.rc = 0;
    return r;
  }
  ctl::Header h{};
  if (n >= sizeof h) std::memcpy(&h, d.bytes.data(), sizeof h);
  if (d.kinds.size() > static_cast<size_t>(ctl::kMaxFds) || n < sizeof h || n > sizeof h + ctl::kMaxMessage ||
      h.size != n - sizeof h) {
    r.rc = -EBADMSG;
    return r;
  }
  r.rc = 1;
  r.type = h.type;
  r.body.assign(d.bytes.begin() + sizeof h, d.bytes.end());
  r.nfds = d.kinds.size();
  return r;
}

template <typename T>
std::optional<T> Fixed(const Received& r) {
  if (r.body.size() < sizeof(T)) return std::nullopt;
  T t;
  std::memcpy(&t, r.body.data(), sizeof t);
  return t;
}

template <typename T>
std::string Tail(const Received& r) {
  if (r.body.size() <= sizeof(T)) return {};
  return std::string(reinterpret_cast<const char*>(r.body.data()) + sizeof(T), r.body.size() - sizeof(T));
}

// Exactly `count` NUL-terminated strings, or nullopt.
std::optional<std::vector<std::string>> Strings(const std::string& tail, size_t count) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < tail.size(); i++) {
    if (tail[i] != '\0') continue;
    out.push_back(tail.substr(start, i - start));
    start = i + 1;
  }
  if (start != tail.size() || out.size() != count) return std::nullopt;
  return out;
}

// The requests a running pVM takes from a well-framed message (control.h), or none.
struct ModelRequests {
  std::vector<uint64_t> forks;
  std::vector<std::pair<ctl::AttachRequest, size_t>> attaches;  // request, fds
  std::vector<std::pair<ctl::Exec, std::vector<std::string>>> execs;
};

void ModelDispatch(const Received& r, ModelRequests* out) {
  if (r.type == ctl::Type::Fork && r.nfds == 0) {
    if (auto f = Fixed<ctl::ForkRequest>(r)) return out->forks.push_back(f->tag);
  }
  if (r.type == ctl::Type::Attach) {
    auto a = Fixed<ctl::AttachRequest>(r);
    bool shm = a && (a->flags & ctl::kAttachShm);
    if (a && (shm ? r.nfds == 1 : (r.nfds == 3 || r.nfds == 4))) return out->attaches.push_back({*a, r.nfds});
  }
  if (r.type == ctl::Type::Exec && r.nfds == 1) {
    auto e = Fixed<ctl::Exec>(r);
    if (e) {
      if (auto args = Strings(Tail<ctl::Exec>(r), e->argc)) return out->execs.push_back({*e, *args});
    }
  }
}

bool Valid(int fd) { return fd >= 0 && fcntl(fd, F_GETFD) != -1; }

void CheckRequests(const HostRequests& got, const ModelRequests& want) {
  PVM_FUZZ_CHECK(got.forks == want.forks, "fork requests: got %zu, want %zu", got.forks.size(), want.forks.size());
  PVM_FUZZ_CHECK(got.attaches.size() == want.attaches.size(), "attach requests: got %zu, want %zu",
                 got.attaches.size(), want.attaches.size());
  for (size_t i = 0; i < got.attaches.size(); i++) {
    const auto& a = got.attaches[i];
    const auto& [request, nfds] = want.attaches[i];
    PVM_FUZZ_CHECK(std::memcmp(&a.request, &request, sizeof request) == 0, "attach request %zu differs", i);
    bool shm = request.flags & ctl::kAttachShm;
    for (int k = 0; k < 4; k++) {
      bool present = shm ? k == 0 : static_cast<size_t>(k) < nfds;
      PVM_FUZZ_CHECK(present ? Valid(a.fds[k]) : a.fds[k] == -1, "attach %zu: fd %d is %d", i, k, a.fds[k]);
    }
  }
  PVM_FUZZ_CHECK(got.execs.size() == want.execs.size(), "exec requests: got %zu, want %zu", got.execs.size(),
                 want.execs.size());
  for (size_t i = 0; i < got.execs.size(); i++) {
    const auto& e = got.execs[i];
    PVM_FUZZ_CHECK(e.tag == want.execs[i].first.tag && e.ram_size == want.execs[i].first.ram_size &&
                       e.args == want.execs[i].second && Valid(e.image_fd),
                   "exec request %zu differs", i);
  }
}

// Writes the datagrams (at most kMaxDatagrams, as long as the socket takes them without
// blocking) and returns those that went.
std::vector<Datagram> Write(int sock, const std::vector<Datagram>& all) {
  const Fixture& fx = TheFixture();
  std::vector<Datagram> sent;
  for (const Datagram& d : all) {
    if (sent.size() == kMaxDatagrams) break;
    iovec iov{const_cast<uint8_t*>(d.bytes.data()), d.bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)];
    if (!d.kinds.empty()) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * d.kinds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * d.kinds.size());
      for (size_t i = 0; i < d.kinds.size(); i++) {
        std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fx.fds[d.kinds[i]], sizeof(int));
      }
    }
    if (sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) break;
    sent.push_back(d);
  }
  return sent;
}

// Reads whatever is left on sock and closes the fds that came with it.
void Drain(int sock) {
  for (;;) {
    ctl::Message m;
    int rc = ctl::receive(sock, &m, /*nonblocking=*/true);
    for (int fd : m.fds) close(fd);
    if (rc == -EAGAIN || rc == -EBADF || rc == -ENOTSOCK) return;
  }
}

void RunReceive(int host, int monitor, const std::vector<Datagram>& all) {
  std::vector<Datagram> sent = Write(host, all);
  for (size_t i = 0; i < sent.size(); i++) {
    Received want = Model(sent[i]);
    ctl::Message m;
    int rc = ctl::receive(monitor, &m, /*nonblocking=*/true);
    PVM_FUZZ_CHECK(rc == want.rc, "datagram %zu: ctl::receive gave %d, the protocol says %d", i, rc, want.rc);
    if (rc == 1) {
      PVM_FUZZ_CHECK(m.type == want.type && m.body == want.body && m.fds.size() == want.nfds,
                     "datagram %zu: message differs (type %u/%u, %zu/%zu bytes, %zu/%zu fds)", i,
                     static_cast<unsigned>(m.type), static_cast<unsigned>(want.type), m.body.size(), want.body.size(),
                     m.fds.size(), want.nfds);
      for (int fd : m.fds) {
        PVM_FUZZ_CHECK(Valid(fd), "received fd %d is not open", fd);
        close(fd);
      }
    } else {
      PVM_FUZZ_CHECK(m.fds.empty(), "datagram %zu: fds left over from a %d receive", i, rc);
    }
  }
  ctl::Message m;
  int rc = ctl::receive(monitor, &m, true);
  PVM_FUZZ_CHECK(rc == -EAGAIN, "ctl::receive after the last datagram gave %d", rc);
}

void RunReceiveBoot(int host, int monitor, const std::vector<Datagram>& all) {
  std::vector<Datagram> sent = Write(host, all);
  if (sent.empty()) return;  // ReceiveBoot would wait for ever
  Received want = Model(sent[0]);
  ControlChannel channel(monitor);
  monitor::BootRequest request;
  Failure why;
  bool ok = channel.ReceiveBoot(&request, &why);

  std::optional<ctl::Boot> boot;
  std::optional<std::vector<std::string>> args;
  if (want.rc == 1 && want.type == ctl::Type::Boot && want.nfds == 2) boot = Fixed<ctl::Boot>(want);
  if (boot) args = Strings(Tail<ctl::Boot>(want), boot->argc);
  PVM_FUZZ_CHECK(ok == (boot && args), "ReceiveBoot %s a message the protocol %s", ok ? "took" : "refused",
                 ok ? "refuses" : "takes");
  if (!ok) {
    PVM_FUZZ_CHECK(why.code == ctl::ErrorCode::BadConfig && !why.message.empty(), "ReceiveBoot failed without a reason");
  } else {
    PVM_FUZZ_CHECK(std::memcmp(&request.boot, &*boot, sizeof *boot) == 0, "Boot differs");
    PVM_FUZZ_CHECK(Valid(request.image_fd) && Valid(request.registry_fd) && request.image_fd != request.registry_fd,
                   "Boot fds %d, %d", request.image_fd, request.registry_fd);
    PVM_FUZZ_CHECK(request.args.size() == args->size(), "Boot argc");
    for (size_t i = 0; i < args->size(); i++) {
      PVM_FUZZ_CHECK(request.args[i] == (*args)[i], "Boot argument %zu differs", i);
    }
    // What the monitor does with the arguments next: checks them, writes argv.
    uint64_t ram_size = 0;
    Failure ignored;
    if (monitor::CheckRamSize(request.boot.ram_size, &ram_size, &ignored)) {
      PVM_FUZZ_CHECK(ram_size >= PVM_MIN_RAM && ram_size <= PVM_MAX_RAM && ram_size % (2ull << 20) == 0 &&
                         ram_size >= request.boot.ram_size,
                     "CheckRamSize gave 0x%llx for 0x%llx", (unsigned long long)ram_size,
                     (unsigned long long)request.boot.ram_size);
    }
    static std::vector<uint8_t> ram(PVM_MIN_RAM);
    monitor::BootParams params;
    params.id = request.boot.id;
    params.parent_id = request.boot.parent_id;
    params.args = request.args;
    monitor::LoadedImage image;
    image.entry = PVM_IMAGE_BASE;
    image.end = PVM_IMAGE_BASE + 4096;
    monitor::EntryState entry;
    bool fits = monitor::ArgsAreaBytes(params.args) <= PVM_ARGS_SIZE;
    bool set_up = monitor::SetUpBoot(ram, image, params, &entry, &ignored);
    PVM_FUZZ_CHECK(set_up == fits, "SetUpBoot with %zu arguments: %d, fits: %d", params.args.size(), set_up, fits);
  }
  if (request.image_fd >= 0) close(request.image_fd);
  if (request.registry_fd >= 0) close(request.registry_fd);
  Drain(monitor);
}

void RunPollHost(int host, int monitor, const std::vector<Datagram>& all) {
  std::vector<Datagram> sent = Write(host, all);
  ModelRequests want;
  for (const Datagram& d : sent) {
    Received r = Model(d);
    if (r.rc == 1) ModelDispatch(r, &want);
  }
  ControlChannel channel(monitor);
  HostRequests got;
  channel.PollHost(&got);
  CheckRequests(got, want);
  got.Clear();
  PVM_FUZZ_CHECK(got.empty(), "HostRequests::Clear left requests");
  ctl::Message m;
  int rc = ctl::receive(monitor, &m, true);
  PVM_FUZZ_CHECK(rc == -EAGAIN, "PollHost left a message behind (%d)", rc);
}

void RunRequestExecImage(int host, int monitor, const std::vector<Datagram>& all, bool long_args) {
  const Fixture& fx = TheFixture();
  // The host's answer always comes last, so the monitor never waits for ever.
  std::vector<Datagram> with_answer(all.begin(), all.size() > kMaxDatagrams - 1 ? all.begin() + kMaxDatagrams - 1
                                                                                : all.end());
  Datagram answer;
  ctl::Header h{ctl::Type::ExecImage, sizeof(ctl::ExecImage)};
  ctl::ExecImage refusal{-ENOENT};
  answer.bytes.resize(sizeof h + sizeof refusal);
  std::memcpy(answer.bytes.data(), &h, sizeof h);
  std::memcpy(answer.bytes.data() + sizeof h, &refusal, sizeof refusal);
  with_answer.push_back(answer);
  std::vector<Datagram> sent = Write(host, with_answer);
  if (sent.empty() || sent.back().bytes != answer.bytes) {
    Drain(monitor);  // the socket was full before the answer: nothing to run
    return;
  }

  std::vector<std::string> args{"a", "bc"};
  if (long_args) args.push_back(std::string(ctl::kMaxMessage, 'x'));
  std::set<int> open_before;
  for (int fd = 0; fd < 1024; fd++) {
    if (Valid(fd)) open_before.insert(fd);
  }
  ControlChannel channel(monitor);
  HostRequests stash;
  int rc = channel.SendExecRequest("image.elf", args, 6 << 20);
  // The answer is in the socket already: the first look must find it.
  if (rc == 0) PVM_FUZZ_CHECK(channel.TakeExecImage(&stash, &rc), "TakeExecImage found no answer");

  if (long_args) {
    PVM_FUZZ_CHECK(rc == -E2BIG, "the exec request with an oversized request gave %d", rc);
  } else {
    // The model: messages up to the first well-framed ExecImage; others are requests.
    ModelRequests want_stash;
    int want_fd_kind = -1;
    int want_rc = -EIO;  // an answer without an image and without a real -errno
    for (const Datagram& d : sent) {
      Received r = Model(d);
      if (r.rc != 1) continue;
      if (r.type != ctl::Type::ExecImage) {
        ModelDispatch(r, &want_stash);
        continue;
      }
      auto a = Fixed<ctl::ExecImage>(r);
      if (a && a->error == 0 && r.nfds == 1) {
        want_fd_kind = d.kinds[0];
      } else if (a && a->error < 0 && a->error >= -4095) {
        want_rc = static_cast<int>(a->error);
      }
      break;
    }
    CheckRequests(stash, want_stash);
    if (want_fd_kind < 0) {
      PVM_FUZZ_CHECK(rc == want_rc, "the exec request gave %d for an answer without an image: %d was due", rc,
                     want_rc);
    } else {
      struct stat st;
      PVM_FUZZ_CHECK(rc >= 0 && !open_before.count(rc) && fstat(rc, &st) == 0 && st.st_ino == fx.inodes[want_fd_kind],
                     "the exec request gave %d, not the image fd the host sent", rc);
      close(rc);
    }
    // The request the host got.
    ctl::Message m;
    PVM_FUZZ_CHECK(ctl::receive(host, &m, true) == 1 && m.type == ctl::Type::ExecRequest && m.fds.empty(),
                   "no ExecRequest at the host");
    const auto* request = m.as<ctl::ExecRequest>();
    PVM_FUZZ_CHECK(request && request->argc == 2 && request->ram_size == (6 << 20) &&
                       m.tail<ctl::ExecRequest>() == std::string("image.elf\0a\0bc\0", 15),
                   "ExecRequest differs");
  }
  stash.Clear();
  Drain(monitor);
  Drain(host);
}

// What the Poller delivered, from its thread.
struct Delivered {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<MonitorEvent> events;
};

void RunPoller(const std::vector<Datagram>& all) {
  constexpr uint64_t kId = 1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) abort();
  int big = 1 << 20;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  // Everything is sent and the monitor's end closed before the Poller looks: it then
  // reads every datagram in order and ends with Closed, however its wake-ups fall.
  std::vector<Datagram> sent = Write(sv[1], all);
  close(sv[1]);

  Delivered got;
  int error = 0;
  Poller* poller = Poller::Create(
      [&got](std::vector<MonitorEvent>&& batch) {
        std::lock_guard<std::mutex> lock(got.mutex);
        for (auto& e : batch) got.events.push_back(std::move(e));
        got.changed.notify_all();
      },
      &error);
  if (!poller) abort();
  int pidfd = dup(TheFixture().dead_pidfd);
  PVM_FUZZ_CHECK(poller->Add(kId, 1, sv[0], pidfd, /*own_child=*/false) == 0, "Poller::Add failed");
  // Closed and Ended for the monitor are the last of its events (Ended comes after the
  // messages: the Poller drains the socket first).
  auto done = [&got] {
    bool closed = false, ended = false;
    for (const auto& e : got.events) {
      closed |= e.id == kId && e.kind == MonitorEvent::Kind::Closed;
      ended |= e.id == kId && e.kind == MonitorEvent::Kind::Ended;
    }
    return closed && ended;
  };
  {
    std::unique_lock<std::mutex> lock(got.mutex);
    PVM_FUZZ_CHECK(got.changed.wait_for(lock, std::chrono::seconds(20), done),
                   "the Poller did not report the monitor closed and ended within 20 s");
  }
  delete poller;  // Shutdown: closes what it adopted from Forked messages

  // The monitor's events, in order: a message or a malformed one per datagram up to the
  // first end of stream.
  std::vector<const MonitorEvent*> mine;
  for (const auto& e : got.events) {
    if (e.id == kId && e.kind != MonitorEvent::Kind::Ended) mine.push_back(&e);
  }
  size_t k = 0;
  bool closed = false;
  for (size_t i = 0; i < sent.size() && !closed; i++) {
    Received want = Model(sent[i]);
    PVM_FUZZ_CHECK(k < mine.size(), "datagram %zu: no event", i);
    const MonitorEvent& e = *mine[k++];
    if (want.rc == 0) {
      PVM_FUZZ_CHECK(e.kind == MonitorEvent::Kind::Closed, "datagram %zu (end of stream): event %d", i,
                     static_cast<int>(e.kind));
      closed = true;
      continue;
    }
    if (want.rc < 0) {
      PVM_FUZZ_CHECK(e.kind == MonitorEvent::Kind::Malformed && e.message.fds.empty(),
                     "datagram %zu (malformed): event %d with %zu fds", i, static_cast<int>(e.kind),
                     e.message.fds.size());
      continue;
    }
    PVM_FUZZ_CHECK(e.kind == MonitorEvent::Kind::Message && e.message.type == want.type && e.message.body == want.body,
                   "datagram %zu: event %d differs from the message", i, static_cast<int>(e.kind));
    if (want.type != ctl::Type::Forked) {
      PVM_FUZZ_CHECK(e.message.fds.size() == want.nfds, "datagram %zu: %zu fds passed on, %zu sent", i,
                     e.message.fds.size(), want.nfds);
      continue;
    }
    // Forked: the Poller keeps (adopts) or closes every fd; only a host channel's memfd
    // goes on to JavaScript.
    auto f = Fixed<ctl::Forked>(want);
    bool may_keep = f && f->error == 0 && f->host_channel && want.nfds == 5;
    PVM_FUZZ_CHECK(e.message.fds.size() <= (may_keep ? 1u : 0u), "datagram %zu: Forked passed on %zu fds", i,
                   e.message.fds.size());
  }
  if (!closed) {
    PVM_FUZZ_CHECK(k < mine.size() && mine[k]->kind == MonitorEvent::Kind::Closed, "no Closed after the messages");
    k++;
  }
  PVM_FUZZ_CHECK(k == mine.size(), "%zu events after Closed", mine.size() - k);
  // What EventsToJs does with fds no message type took (a host channel's memfd is mapped
  // and closed there).
  for (const auto& e : got.events) {
    for (int fd : e.message.fds) {
      PVM_FUZZ_CHECK(Valid(fd), "an event carries fd %d, which is not open", fd);
      close(fd);
    }
  }
}

}  // namespace
}  // namespace pvm::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pvm::fuzz::EnsureStdio();
  pvm::fuzz::TheFixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvm::fuzz;
  const Fixture& fx = TheFixture();
  int fds_before = CountOpenFds();

  Input in(data, size);
  uint8_t mode = in.Byte();
  std::vector<Datagram> all;
  while (!in.empty() && all.size() < 2 * kMaxDatagrams) {
    uint8_t spec = in.Byte();
    uint16_t length = in.U16();
    Datagram d;
    auto bytes = in.Bytes(length);
    d.bytes.assign(bytes.begin(), bytes.end());
    if (spec & 0x40) d.bytes.resize(d.bytes.size() + kPadding);
    for (int i = 0; i < (spec & 0x0f); i++) d.kinds.push_back(((spec >> 4) + ((spec & 0x80) ? 0 : i)) % 4);
    // An empty datagram without fds reads as the host hanging up, and the monitor exits
    // on that (HostGone): only the bare framing mode and the Poller can take one.
    if (!(mode & 8) && (mode & 3) != 0 && d.bytes.empty() && d.kinds.empty()) continue;
    all.push_back(std::move(d));
  }
  (void)fx;

  if (mode & 8) {
    RunPoller(all);
    CheckStdio("the Poller");
    CheckNoFdLeak("fuzz_control", fds_before);
    return 0;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) abort();
  int big = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  int host = sv[0], monitor = sv[1];
  switch (mode & 3) {
    case 0: RunReceive(host, monitor, all); break;
    case 1: RunReceiveBoot(host, monitor, all); break;
    case 2: RunPollHost(host, monitor, all); break;
    case 3: RunRequestExecImage(host, monitor, all, mode & 4); break;
  }
  close(host);
  close(monitor);
  CheckStdio("the control message code");
  CheckNoFdLeak("fuzz_control", fds_before);
  return 0;
}
