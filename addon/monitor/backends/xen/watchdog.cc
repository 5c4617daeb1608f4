#include "monitor/backends/xen/watchdog.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "monitor/backends/xen/owner_tag.h"

namespace pvm::monitor::xen {

namespace {

void Send(int fd, char op, uint32_t domid) {
  if (fd < 0) return;
  char line[32];
  int n = snprintf(line, sizeof line, "%c %u\n", op, domid);
  (void)!write(fd, line, n);
}

[[noreturn]] void Watch(int in, OwnerTag owner) {
  setsid();
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2, SIGIO}) signal(s, SIG_IGN);
  prctl(PR_SET_NAME, "pvm-xen-watch");
  std::set<uint32_t> armed;
  char line[64];
  size_t used = 0;
  for (;;) {
    ssize_t n = read(in, line + used, sizeof line - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the monitor is gone
    used += n;
    line[used] = 0;
    char* start = line;
    for (char* nl; (nl = static_cast<char*>(memchr(start, '\n', line + used - start))) != nullptr; start = nl + 1) {
      uint32_t id = static_cast<uint32_t>(strtoul(start + 2, nullptr, 10));
      if (*start == 'A') armed.insert(id);
      else armed.erase(id);
    }
    used = line + used - start;
    memmove(line, start, used);
  }
  if (!armed.empty()) {
    xc_interface* xc = xc_interface_open(nullptr, nullptr, 0);
    for (uint32_t id : armed) {
      xc_domaininfo_t info{};
      OwnerTag tag;
      // Only the domain this monitor made: same id and its owner tag.
      if (xc && xc_domain_getinfolist(xc, id, 1, &info) == 1 && info.domain == id && OwnerTag::Read(info.handle, &tag) &&
          tag == owner) {
        xc_domain_destroy(xc, id);
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
  if (pipe2(p, O_CLOEXEC) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen watchdog: pipe2");
  OwnerTag owner = OwnerTag::Self();
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return FailErrno(why, ctl::ErrorCode::Internal, "xen watchdog: fork");
  }
  if (pid == 0) {
    // Nothing of the monitor's but the pipe: not the control socket, not stdio's pipes
    // (the host would wait for their EOF).
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

void Watchdog::Arm(uint32_t domid) { Send(fd_, 'A', domid); }
void Watchdog::Disarm(uint32_t domid) { Send(fd_, 'D', domid); }

void Watchdog::Stop() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace pvm::monitor::xen
