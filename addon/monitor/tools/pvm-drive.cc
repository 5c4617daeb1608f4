// pvm-drive: a test driver for pvm-monitor (built as build/Release/pvm-drive; by hand, and
// test/backend-option.test.ts).
// Plays the host: socketpair, spawn the monitor with the socket on fd 3, send Boot with
// the image fd and the arguments, print every message that comes back.
//
//   g++ -std=c++20 -O2 -I build/generated -I addon addon/monitor/tools/pvm-drive.cc
//       addon/common/control_io.cc addon/common/registry.cc -o /tmp/pvm-drive
//   /tmp/pvm-drive [--monitor=build/Release/pvm-monitor] [--backend=NAME] [--ram=16M] [--id=N] [--stats]
//                  [--quiet] [--close-after-ms=N] image [guest args...]
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/control.h"
#include "common/control_io.h"
#include "common/registry.h"

extern char** environ;

namespace {

using namespace pvm;

uint64_t Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

uint64_t ParseSize(const char* s) {
  char* end;
  uint64_t v = strtoull(s, &end, 0);
  if (*end == 'K' || *end == 'k') v <<= 10;
  if (*end == 'M' || *end == 'm') v <<= 20;
  if (*end == 'G' || *end == 'g') v <<= 30;
  return v;
}

const char* FaultName(ctl::FaultKind k) {
  switch (k) {
    case ctl::FaultKind::None: return "none";
    case ctl::FaultKind::Exception: return "exception";
    case ctl::FaultKind::TripleFault: return "triple-fault";
    case ctl::FaultKind::BadHypercall: return "bad-hypercall";
    case ctl::FaultKind::BadIo: return "bad-io";
    case ctl::FaultKind::BadMemory: return "bad-memory";
    case ctl::FaultKind::Internal: return "internal";
  }
  return "?";
}

double Us(uint64_t a, uint64_t b) { return (static_cast<double>(b) - static_cast<double>(a)) / 1e3; }

}  // namespace

int main(int argc, char** argv) {
  std::string monitor = "build/Release/pvm-monitor";
  std::string backend;  // passed on as --backend=NAME
  uint64_t ram = 16ull << 20, id = 1;
  bool stats = false, quiet = false;
  long close_after_ms = -1;
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    const char* a = argv[i];
    if (!strncmp(a, "--monitor=", 10)) monitor = a + 10;
    else if (!strncmp(a, "--backend=", 10)) backend = a;
    else if (!strncmp(a, "--ram=", 6)) ram = ParseSize(a + 6);
    else if (!strncmp(a, "--id=", 5)) id = strtoull(a + 5, nullptr, 0);
    else if (!strcmp(a, "--stats")) stats = true;
    else if (!strcmp(a, "--quiet")) quiet = true;
    else if (!strncmp(a, "--close-after-ms=", 17)) close_after_ms = atol(a + 17);
    else { fprintf(stderr, "unknown option %s\n", a); return 2; }
  }
  if (i >= argc) {
    fprintf(stderr, "usage: pvm-drive [options] image [args...]\n");
    return 2;
  }
  const char* image = argv[i];
  int image_fd = open(image, O_RDONLY | O_CLOEXEC);
  if (image_fd < 0) { perror(image); return 1; }

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) { perror("socketpair"); return 1; }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pair[1], ctl::kControlFd);
  std::string parent = "--parent-pid=" + std::to_string(getpid());
  std::vector<char*> margv = {monitor.data(), parent.data()};
  if (stats) margv.push_back(const_cast<char*>("--stats"));
  if (!backend.empty()) margv.push_back(backend.data());
  margv.push_back(nullptr);
  uint64_t spawn_ns = Now();
  pid_t pid;
  int rc = posix_spawn(&pid, monitor.c_str(), &actions, nullptr, margv.data(), environ);
  if (rc != 0) { fprintf(stderr, "spawn %s: %s\n", monitor.c_str(), strerror(rc)); return 1; }
  close(pair[1]);
  int sock = pair[0];

  ctl::Boot boot{};
  boot.id = id;
  boot.parent_id = 0;
  boot.ram_size = ram;
  boot.spawn_ns = spawn_ns;
  std::string tail;
  for (int k = i; k < argc; k++) {
    tail += argv[k];
    tail.push_back('\0');
    boot.argc++;
  }
  // The image and the pVM registry (one of its own: this driver is the only host).
  pvm::Registry registry;
  if (registry.Create(64) != 0) { fprintf(stderr, "cannot make a registry\n"); return 1; }
  int boot_fds[2] = {image_fd, registry.fd()};
  rc = ctl::send(sock, ctl::Type::Boot, boot, tail.data(), tail.size(), boot_fds, 2);
  if (rc != 0) fprintf(stderr, "send Boot: %s\n", strerror(-rc));
  close(image_fd);

  uint64_t ready_ns = 0, console_bytes = 0, console_msgs = 0;
  bool closed_by_us = false;
  uint64_t close_ns = 0;
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    int timeout = close_after_ms >= 0 && !closed_by_us ? static_cast<int>(close_after_ms) : -1;
    int n = poll(&p, 1, timeout);
    if (n == 0) {
      fprintf(stderr, "[drive] closing the control socket\n");
      close_ns = Now();
      close(sock);
      closed_by_us = true;
      break;
    }
    ctl::Message m;
    rc = ctl::receive(sock, &m, false);
    if (rc == 0) { fprintf(stderr, "[drive] control socket closed by the monitor\n"); break; }
    if (rc < 0) { fprintf(stderr, "[drive] receive: %s\n", strerror(-rc)); break; }
    switch (m.type) {
      case ctl::Type::Ready: {
        auto* r = m.as<ctl::Ready>();
        ready_ns = r->vm_ready_ns;
        fprintf(stderr, "[drive] Ready pid=%" PRIu64 " backend=%.16s flags=0x%x spawn->main=%.1fus main->vm_ready=%.1fus\n", r->pid,
                r->backend, r->backend_flags, Us(spawn_ns, r->monitor_start_ns), Us(r->monitor_start_ns, r->vm_ready_ns));
        break;
      }
      case ctl::Type::Started: {
        auto* s = m.as<ctl::Started>();
        fprintf(stderr, "[drive] Started vm_ready->first_exit=%.1fus spawn->first_exit=%.1fus\n",
                Us(ready_ns, s->first_exit_ns), Us(spawn_ns, s->first_exit_ns));
        break;
      }
      case ctl::Type::Console:
        console_bytes += m.body.size();
        console_msgs++;
        if (!quiet) fwrite(m.body.data(), 1, m.body.size(), stdout), fflush(stdout);
        break;
      case ctl::Type::Exit: {
        auto* x = m.as<ctl::Exit>();
        if (x->kind == ctl::ExitKind::Code) {
          fprintf(stderr, "[drive] Exit code=%d", x->code);
        } else {
          fprintf(stderr, "[drive] Exit fault=%s vector=%d error_code=0x%" PRIx64 " rip=0x%" PRIx64 " address=0x%" PRIx64
                  "\n[drive]   reason: %s\n", FaultName(x->fault), static_cast<int>(x->vector), x->error_code, x->rip,
                  x->address, x->reason);
        }
        fprintf(stderr, "%s[drive]   spawn->exit=%.1fus, console %" PRIu64 " bytes in %" PRIu64 " messages\n",
                x->kind == ctl::ExitKind::Code ? "\n" : "", Us(spawn_ns, x->exit_ns), console_bytes, console_msgs);
        break;
      }
      case ctl::Type::Error: {
        auto* e = m.as<ctl::Error>();
        fprintf(stderr, "[drive] Error code=%u errno=%d: %s\n", static_cast<unsigned>(e->code), e->sys_errno,
                m.tail<ctl::Error>().c_str());
        break;
      }
      default:
        fprintf(stderr, "[drive] message type %u, %zu bytes\n", static_cast<unsigned>(m.type), m.body.size());
    }
    for (int fd : m.fds) close(fd);
  }
  int status;
  waitpid(pid, &status, 0);
  if (closed_by_us) fprintf(stderr, "[drive] monitor gone %.1fus after the close\n", Us(close_ns, Now()));
  if (WIFEXITED(status)) fprintf(stderr, "[drive] monitor exited with status %d\n", WEXITSTATUS(status));
  else fprintf(stderr, "[drive] monitor killed by signal %d\n", WTERMSIG(status));
  return 0;
}
