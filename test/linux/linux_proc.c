/*
 * A static Linux program (musl-gcc -static) for the Linux personality's processes and
 * pipes: `linux_proc <mode> [args]`. fork is a pVM fork, wait4 waits for a child pVM,
 * kill signals one, pipes work across fork. Each mode prints "<mode> ok ..." on success
 * or "<mode> FAIL: why" and exits 1. Built unchanged: no pvm header in sight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int fail(const char *mode, const char *why)
{
  printf("%s FAIL: %s (errno %d)\n", mode, why, errno);
  return 1;
}

static pid_t xfork(void)
{
  fflush(stdout);  /* the child must not print the parent's buffered lines again */
  return fork();
}

/* `forkwait N`: the child _exit(N)s, waitpid sees N. */
static int forkwait(int code)
{
  pid_t pid = xfork();
  if (pid < 0) return fail("forkwait", "fork");
  if (pid == 0) _exit(code);
  int status = -1;
  pid_t got = waitpid(pid, &status, 0);
  if (got != pid) return fail("forkwait", "waitpid returned another pid");
  if (!WIFEXITED(status)) return fail("forkwait", "not WIFEXITED");
  printf("forkwait ok status %d\n", WEXITSTATUS(status));
  return 0;
}

/* `ids`: the child's getpid is what fork returned, its getppid the parent's getpid. */
static int ids(void)
{
  int p[2];
  if (pipe(p) != 0) return fail("ids", "pipe");
  pid_t parent = getpid();
  pid_t pid = xfork();
  if (pid < 0) return fail("ids", "fork");
  if (pid == 0) {
    long mine[2] = {getpid(), getppid()};
    write(p[1], mine, sizeof mine);
    _exit(0);
  }
  long theirs[2] = {0, 0};
  if (read(p[0], theirs, sizeof theirs) != sizeof theirs) return fail("ids", "read");
  waitpid(pid, NULL, 0);
  if (theirs[0] != pid) return fail("ids", "child's getpid is not fork's result");
  if (theirs[1] != parent) return fail("ids", "child's getppid is not the parent");
  if (pid == parent) return fail("ids", "same pid");
  printf("ids ok parent %d child %d\n", (int)parent, (int)pid);
  return 0;
}

/* `cow`: after fork each side writes its own copy; neither sees the other's writes. */
static char big[1 << 20];
static int cow(void)
{
  memset(big, 'p', sizeof big);
  int counter = 10;
  pid_t pid = xfork();
  if (pid < 0) return fail("cow", "fork");
  if (pid == 0) {
    if (big[12345] != 'p' || counter != 10) _exit(2);  /* the parent's data, as at fork */
    memset(big, 'c', sizeof big);
    counter = 20;
    _exit(big[777] == 'c' && counter == 20 ? 0 : 3);
  }
  int status;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("cow", "the child did not see its own copy");
  for (size_t i = 0; i < sizeof big; i += 4096)
    if (big[i] != 'p') return fail("cow", "the child's write reached the parent");
  if (counter != 10) return fail("cow", "counter");
  printf("cow ok\n");
  return 0;
}

/* `shared`: a MAP_SHARED | MAP_ANONYMOUS page is one page in parent and child (each
 * sees the other's writes, two children count into it); a MAP_PRIVATE one stays a copy. */
static int shared_mode(void)
{
  volatile long *sh = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  volatile long *pv = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED || pv == MAP_FAILED) return fail("shared", "mmap");
  if (sh[0] != 0 || sh[1023] != 0) return fail("shared", "a new shared mapping is not zero");
  sh[0] = 1;
  pv[0] = 1;
  for (int c = 0; c < 2; c++) {
    pid_t pid = xfork();
    if (pid < 0) return fail("shared", "fork");
    if (pid == 0) {
      if (sh[0] < 1 || pv[0] != 1) _exit(2);  /* both as they were at fork */
      for (int i = 0; i < 1000; i++) __atomic_fetch_add(&sh[1], 1, __ATOMIC_SEQ_CST);
      pv[0] = 99;
      sh[0] = 10 + c;
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("shared", "child");
  }
  if (sh[1] != 2000) return fail("shared", "the children's counts did not reach the parent");
  if (sh[0] != 11) return fail("shared", "the last child's write did not reach the parent");
  if (pv[0] != 1) return fail("shared", "a MAP_PRIVATE page was shared");
  if (munmap((void *)sh, 8192) != 0) return fail("shared", "munmap");
  void *big = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (big != MAP_FAILED || errno != ENOMEM) return fail("shared", "a shared mapping over 2 MiB is not ENOMEM");
  printf("shared ok\n");
  return 0;
}

/* `waitany`: three children exit 1, 2, 3; wait(-1) reaps each once; then ECHILD. */
static int waitany(void)
{
  pid_t pids[3];
  for (int i = 0; i < 3; i++) {
    pids[i] = xfork();
    if (pids[i] < 0) return fail("waitany", "fork");
    if (pids[i] == 0) _exit(i + 1);
  }
  int seen = 0;
  for (int i = 0; i < 3; i++) {
    int status;
    pid_t got = wait(&status);
    int k = -1;
    for (int j = 0; j < 3; j++) if (pids[j] == got) k = j;
    if (k < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != k + 1) return fail("waitany", "status");
    seen |= 1 << k;
  }
  if (seen != 7) return fail("waitany", "not every child");
  if (wait(NULL) != -1 || errno != ECHILD) return fail("waitany", "no ECHILD after the last");
  printf("waitany ok\n");
  return 0;
}

/* `wnohang`: WNOHANG is 0 while the child blocks (on a pipe the parent holds), then the
 * child's status once the parent lets it go. */
static int wnohang(void)
{
  int p[2];
  if (pipe(p) != 0) return fail("wnohang", "pipe");
  pid_t pid = xfork();
  if (pid == 0) {
    char c;
    close(p[1]);
    _exit(read(p[0], &c, 1) == 1 ? c : 99);
  }
  int status;
  if (waitpid(pid, &status, WNOHANG) != 0) return fail("wnohang", "WNOHANG did not return 0");
  write(p[1], "\x2a", 1);
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 42) return fail("wnohang", "status");
  printf("wnohang ok\n");
  return 0;
}

/* `waitid`: siginfo as Linux fills it. */
static int waitid_mode(void)
{
  pid_t pid = xfork();
  if (pid == 0) _exit(5);
  siginfo_t info;
  memset(&info, 0xff, sizeof info);
  if (waitid(P_PID, pid, &info, WEXITED) != 0) return fail("waitid", "waitid");
  if (info.si_signo != SIGCHLD || info.si_code != CLD_EXITED || info.si_pid != pid || info.si_status != 5)
    return fail("waitid", "siginfo");
  printf("waitid ok\n");
  return 0;
}

/* `vfork`: vfork + _exit. */
static int vfork_mode(void)
{
  fflush(stdout);
  pid_t pid = vfork();
  if (pid == 0) _exit(4);
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 4)
    return fail("vfork", "status");
  printf("vfork ok\n");
  return 0;
}

/* `kill`: children blocked on a pipe are ended by kill; wait4 says which signal. */
static int kill_mode(void)
{
  int p[2];
  if (pipe(p) != 0) return fail("kill", "pipe");
  int sigs[] = {SIGTERM, SIGKILL, SIGINT};
  for (int i = 0; i < 3; i++) {
    pid_t pid = xfork();
    if (pid == 0) {
      char c;
      read(p[0], &c, 1);  /* never comes */
      _exit(0);
    }
    if (kill(pid, 0) != 0) return fail("kill", "kill(child, 0)");
    if (kill(pid, sigs[i]) != 0) return fail("kill", "kill");
    int status;
    if (waitpid(pid, &status, 0) != pid) return fail("kill", "waitpid");
    if (!WIFSIGNALED(status) || WTERMSIG(status) != sigs[i]) return fail("kill", "not WIFSIGNALED with the signal sent");
    printf("killed by %d\n", WTERMSIG(status));
  }
  if (kill(999999, SIGTERM) != -1 || errno != ESRCH) return fail("kill", "no ESRCH for nobody");
  printf("kill ok\n");
  return 0;
}

/* `forkbomb`: fork until fork fails with EAGAIN (the host's maxPvms), children waiting
 * on a pipe; then every child goes (EOF) and is reaped. */
static int forkbomb(void)
{
  int p[2];
  if (pipe(p) != 0) return fail("forkbomb", "pipe");
  static pid_t kids[4096];
  int n = 0;
  for (;;) {
    pid_t pid = xfork();
    if (pid < 0) {
      if (errno != EAGAIN) return fail("forkbomb", "fork failed, but not with EAGAIN");
      break;
    }
    if (pid == 0) {
      char c;
      close(p[1]);
      _exit(read(p[0], &c, 1) == 0 ? 0 : 1);  /* EOF once the parent closes */
    }
    kids[n++] = pid;
    if (n == 4096) return fail("forkbomb", "no limit");
  }
  close(p[1]);
  for (int i = 0; i < n; i++) {
    int status;
    if (waitpid(kids[i], &status, 0) != kids[i] || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return fail("forkbomb", "a child did not end well");
  }
  printf("forkbomb ok %d children, then EAGAIN\n", n);
  return 0;
}

/* `pipe`: a pipe made before fork; the child writes, the parent reads to EOF. */
static int pipe_mode(void)
{
  int p[2];
  if (pipe(p) != 0) return fail("pipe", "pipe");
  pid_t pid = xfork();
  if (pid == 0) {
    close(p[0]);
    const char *msg = "hello through a pipe";
    write(p[1], msg, strlen(msg));
    _exit(0);
  }
  close(p[1]);
  char buf[128];
  size_t got = 0;
  for (ssize_t n; (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0;) got += (size_t)n;
  buf[got] = 0;
  int status;
  waitpid(pid, &status, 0);
  if (strcmp(buf, "hello through a pipe") != 0) return fail("pipe", "what was read");
  printf("pipe ok: %s\n", buf);
  return 0;
}

/* `pipebig N`: N bytes from child to parent (many times the ring), checksummed both ends;
 * then the other way round. */
static uint32_t sum_of(const unsigned char *b, size_t n, uint32_t s)
{
  for (size_t i = 0; i < n; i++) s = s * 31 + b[i];
  return s;
}

static int pipebig(long total)
{
  int down[2], up[2];
  if (pipe(down) != 0 || pipe(up) != 0) return fail("pipebig", "pipe");
  pid_t pid = xfork();
  static unsigned char buf[100000];
  if (pid == 0) {
    close(down[1]);
    close(up[0]);
    uint32_t s = 0;
    long got = 0;
    for (ssize_t n; (n = read(down[0], buf, sizeof buf)) > 0;) s = sum_of(buf, (size_t)n, s), got += n;
    long answer[2] = {got, s};
    write(up[1], answer, sizeof answer);
    _exit(0);
  }
  close(down[0]);
  close(up[1]);
  uint32_t s = 0;
  for (long sent = 0; sent < total;) {
    size_t n = (size_t)(total - sent < (long)sizeof buf ? total - sent : (long)sizeof buf);
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((sent + (long)i) * 7);
    if (write(down[1], buf, n) != (ssize_t)n) return fail("pipebig", "short write");
    s = sum_of(buf, n, s);
    sent += (long)n;
  }
  close(down[1]);
  long answer[2];
  if (read(up[0], answer, sizeof answer) != sizeof answer) return fail("pipebig", "no answer");
  waitpid(pid, NULL, 0);
  if (answer[0] != total || (uint32_t)answer[1] != s) return fail("pipebig", "bytes differ");
  printf("pipebig ok %ld bytes\n", total);
  return 0;
}

/* `epipe`: writing with no reader: EPIPE with SIGPIPE ignored; the default ends the
 * writer (exit status 141, 128 + SIGPIPE, as a shell reports it). */
static int epipe(void)
{
  int p[2];
  if (pipe(p) != 0) return fail("epipe", "pipe");
  pid_t pid = xfork();
  if (pid == 0) {
    close(p[0]);
    write(p[1], "x", 1);
    _exit(0);  /* not reached: SIGPIPE */
  }
  close(p[0]);
  int status;
  waitpid(pid, &status, 0);
  /* Linux: killed by SIGPIPE; a pVM: exit status 141 (the personality cannot end a pVM
   * "by a signal" of its own choosing). */
  int sigpiped = WIFSIGNALED(status) ? WTERMSIG(status) == SIGPIPE : WIFEXITED(status) && WEXITSTATUS(status) == 141;
  if (!sigpiped) return fail("epipe", "the writer was not ended by SIGPIPE");
  signal(SIGPIPE, SIG_IGN);
  if (write(p[1], "x", 1) != -1 || errno != EPIPE) return fail("epipe", "no EPIPE");
  printf("epipe ok\n");
  return 0;
}

/* `dup`: the child's stdout is the pipe (dup2); fcntl, dup3 and F_DUPFD_CLOEXEC work. */
static int dup_mode(void)
{
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return fail("dup", "pipe2");
  if (!(fcntl(p[0], F_GETFD) & FD_CLOEXEC)) return fail("dup", "O_CLOEXEC");
  int hi = fcntl(p[1], F_DUPFD_CLOEXEC, 10);
  if (hi < 10 || !(fcntl(hi, F_GETFD) & FD_CLOEXEC)) return fail("dup", "F_DUPFD_CLOEXEC");
  close(hi);
  struct stat st;
  if (fstat(p[0], &st) != 0 || !S_ISFIFO(st.st_mode)) return fail("dup", "fstat is not a FIFO");
  pid_t pid = xfork();
  if (pid == 0) {
    if (dup2(p[1], 1) != 1) _exit(2);
    close(p[0]);
    close(p[1]);
    printf("printed by the child on its stdout\n");
    fflush(stdout);
    _exit(0);
  }
  close(p[1]);
  char buf[128];
  size_t got = 0;
  for (ssize_t n; (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0;) got += (size_t)n;
  buf[got] = 0;
  waitpid(pid, NULL, 0);
  if (strcmp(buf, "printed by the child on its stdout\n") != 0) return fail("dup", "what was read");
  int d = dup(1);
  if (d < 0 || dup3(d, d, 0) != -1 || errno != EINVAL) return fail("dup", "dup3 of itself");
  printf("dup ok\n");
  return 0;
}

/* `poll`: nothing to read (timeout), then data (POLLIN), then no writer (POLLHUP);
 * select sees the same. */
static int poll_mode(void)
{
  int p[2], go[2];
  if (pipe(p) != 0 || pipe(go) != 0) return fail("poll", "pipe");
  pid_t pid = xfork();
  if (pid == 0) {
    char c;
    close(p[0]);
    close(go[1]);
    read(go[0], &c, 1);
    write(p[1], "!", 1);
    read(go[0], &c, 1);
    _exit(0);
  }
  close(p[1]);
  close(go[0]);
  struct pollfd f = {p[0], POLLIN, 0};
  if (poll(&f, 1, 0) != 0) return fail("poll", "ready before anything was written");
  if (poll(&f, 1, 20) != 0) return fail("poll", "ready after a timeout");
  write(go[1], "a", 1);
  if (poll(&f, 1, -1) != 1 || !(f.revents & POLLIN)) return fail("poll", "no POLLIN");
  fd_set r;
  FD_ZERO(&r);
  FD_SET(p[0], &r);
  if (select(p[0] + 1, &r, NULL, NULL, NULL) != 1 || !FD_ISSET(p[0], &r)) return fail("poll", "select");
  char c;
  read(p[0], &c, 1);
  write(go[1], "b", 1);
  if (poll(&f, 1, -1) != 1 || !(f.revents & POLLHUP)) return fail("poll", "no POLLHUP once the writer is gone");
  waitpid(pid, NULL, 0);
  struct pollfd out = {1, POLLOUT, 0};
  if (poll(&out, 1, 0) != 1 || !(out.revents & POLLOUT)) return fail("poll", "stdout not writable");
  printf("poll ok\n");
  return 0;
}

/* `random`: parent and child draw different bytes after fork. */
static int random_mode(void)
{
  int p[2];
  if (pipe(p) != 0) return fail("random", "pipe");
  pid_t pid = xfork();
  unsigned char mine[16];
  getrandom(mine, sizeof mine, 0);
  if (pid == 0) {
    write(p[1], mine, sizeof mine);
    _exit(0);
  }
  unsigned char theirs[16];
  if (read(p[0], theirs, sizeof theirs) != sizeof theirs) return fail("random", "read");
  waitpid(pid, NULL, 0);
  if (memcmp(mine, theirs, sizeof mine) == 0) return fail("random", "the same bytes in parent and child");
  printf("random ok\n");
  return 0;
}

/* `sleep`: nanosleep sleeps (at least the time asked). */
static int sleep_mode(void)
{
  struct timespec a, b, d = {0, 30 * 1000 * 1000};
  clock_gettime(CLOCK_MONOTONIC, &a);
  if (nanosleep(&d, NULL) != 0) return fail("sleep", "nanosleep");
  clock_gettime(CLOCK_MONOTONIC, &b);
  long long ns = (b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec);
  if (ns < 30 * 1000 * 1000) return fail("sleep", "woke early");
  printf("sleep ok\n");
  return 0;
}

/* `exec PATH`: a child execs this program by PATH ("/proc/self/exe", or any directory:
 * the name is looked up in the image's own) with a new environment; the image that
 * runs ("execed") is the same process (pid), has the descriptors that were not
 * O_CLOEXEC (it writes its report into the inherited pipe) and not the others. */
static int exec_mode(const char *path)
{
  int p[2], c[2];
  if (pipe(p) != 0 || pipe2(c, O_CLOEXEC) != 0) return fail("exec", "pipe");
  errno = 0;
  if (execve("/no/such/program", (char *[]){"x", NULL}, environ) != -1 || errno != ENOENT)
    return fail("exec", "a missing program is not ENOENT");
  pid_t pid = xfork();
  if (pid == 0) {
    close(p[0]);
    char fd[16], me[16], cfd[16];
    snprintf(fd, sizeof fd, "%d", p[1]);
    snprintf(me, sizeof me, "%d", (int)getpid());
    snprintf(cfd, sizeof cfd, "%d", c[1]);
    char *argv[] = {"linux_proc", "execed", fd, me, cfd, NULL};
    char *envp[] = {"PVM_TEST=from-exec", "OTHER=1", NULL};
    execve(path, argv, envp);
    _exit(127);
  }
  close(p[1]);
  close(c[1]);
  char buf[256];
  size_t got = 0;
  for (ssize_t n; (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0;) got += (size_t)n;
  buf[got] = 0;
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return fail("exec", "waitpid");
  printf("%s", buf);
  if (WEXITSTATUS(status) != 0 || !strstr(buf, "execed ok")) return fail("exec", "the new image did not report");
  printf("exec ok\n");
  return 0;
}

static int execed(char **argv)
{
  int fd = atoi(argv[2]);
  char out[200];
  const char *env = getenv("PVM_TEST");
  errno = 0;
  int cloexec_gone = fcntl(atoi(argv[4]), F_GETFD) == -1 && errno == EBADF;
  int n = snprintf(out, sizeof out, "execed %s pid %s env %s cloexec %s\n",
                   getpid() == atoi(argv[3]) && env && strcmp(env, "from-exec") == 0 && cloexec_gone ? "ok" : "FAIL",
                   getpid() == atoi(argv[3]) ? "same" : "other", env ? env : "-", cloexec_gone ? "closed" : "open");
  return write(fd, out, (size_t)n) == n ? 0 : 1;
}

/* `spawn`: posix_spawn (musl: clone(CLONE_VM|CLONE_VFORK) onto a stack of its own, then
 * execve) of this program's `sleep` mode; waitpid sees it end well. */
static int spawn_mode(void)
{
  pid_t pid;
  char *argv[] = {"linux_proc", "sleep", NULL};
  fflush(stdout);
  int err = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ);
  if (err != 0) { errno = err; return fail("spawn", "posix_spawn"); }
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("spawn", "status");
  errno = 0;
  err = posix_spawn(&pid, "/no/such/program", NULL, NULL, argv, environ);
  if (err != ENOENT) { errno = err; return fail("spawn", "a missing program is not ENOENT"); }
  printf("spawn ok\n");
  return 0;
}

/* `forkexitwait N`: N rounds of fork + _exit + waitpid; prints µs per round. */
static int forkexitwait(long n)
{
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    if (pid < 0 || waitpid(pid, NULL, 0) != pid) return fail("forkexitwait", "fork/waitpid");
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / (double)n;
  printf("forkexitwait %ld rounds %.1f us/round\n", n, us);
  return 0;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  long arg = argc > 2 ? atol(argv[2]) : 0;
  if (strcmp(mode, "forkwait") == 0) return forkwait((int)arg);
  if (strcmp(mode, "ids") == 0) return ids();
  if (strcmp(mode, "cow") == 0) return cow();
  if (strcmp(mode, "shared") == 0) return shared_mode();
  if (strcmp(mode, "waitany") == 0) return waitany();
  if (strcmp(mode, "wnohang") == 0) return wnohang();
  if (strcmp(mode, "waitid") == 0) return waitid_mode();
  if (strcmp(mode, "vfork") == 0) return vfork_mode();
  if (strcmp(mode, "kill") == 0) return kill_mode();
  if (strcmp(mode, "forkbomb") == 0) return forkbomb();
  if (strcmp(mode, "pipe") == 0) return pipe_mode();
  if (strcmp(mode, "pipebig") == 0) return pipebig(arg ? arg : 1 << 20);
  if (strcmp(mode, "epipe") == 0) return epipe();
  if (strcmp(mode, "dup") == 0) return dup_mode();
  if (strcmp(mode, "poll") == 0) return poll_mode();
  if (strcmp(mode, "random") == 0) return random_mode();
  if (strcmp(mode, "sleep") == 0) return sleep_mode();
  if (strcmp(mode, "spawn") == 0) return spawn_mode();
  if (strcmp(mode, "exec") == 0) return exec_mode(argc > 2 ? argv[2] : "/proc/self/exe");
  if (strcmp(mode, "execed") == 0 && argc > 4) return execed(argv);
  if (strcmp(mode, "forkexitwait") == 0) return forkexitwait(arg ? arg : 100);
  return fail(mode, "unknown mode");
}
