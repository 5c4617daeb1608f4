#include "binding/monitor_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/control.h"

extern char** environ;

namespace pvm {

namespace {

int OpenPidfd(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

int StartMonitor(const std::string& monitor_path, const std::string& backend, MonitorProcess* out,
                 uint64_t prepare_ram) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return -errno;
  int host_end = pair[0];
  int monitor_end = pair[1];
  // dup2 onto the same number would keep close-on-exec: make sure it differs.
  if (monitor_end == ctl::kControlFd) {
    int moved = fcntl(monitor_end, F_DUPFD_CLOEXEC, ctl::kControlFd + 1);
    int saved = errno;
    close(monitor_end);
    if (moved < 0) {
      close(host_end);
      return -saved;
    }
    monitor_end = moved;
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, monitor_end, ctl::kControlFd);
  // Node blocks and ignores some signals; the monitor starts from defaults.
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  std::string parent_arg = "--parent-pid=" + std::to_string(getpid());
  std::string ram_arg = "--prepare-ram=" + std::to_string(prepare_ram);
  std::string backend_arg = "--backend=" + backend;
  char* argv[] = {const_cast<char*>(monitor_path.c_str()), parent_arg.data(), backend_arg.data(),
                  prepare_ram ? ram_arg.data() : nullptr, nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, monitor_path.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(monitor_end);
  if (rc != 0) {
    close(host_end);
    return -rc;
  }

  int pidfd = OpenPidfd(pid);
  if (pidfd < 0) {
    int saved = errno;
    kill(pid, SIGKILL);
    siginfo_t info;
    waitid(P_PID, pid, &info, WEXITED);
    close(host_end);
    return -saved;
  }
  fcntl(host_end, F_SETFL, fcntl(host_end, F_GETFL) | O_NONBLOCK);
  out->pid = pid;
  out->control = host_end;
  out->pidfd = pidfd;
  return 0;
}

}  // namespace pvm
