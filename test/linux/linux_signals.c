/* Signals with handlers in a static Linux program (test/linux-signals.test.ts): each mode
 * prints "<mode> ok ..." on success, "<mode> FAIL: why" otherwise (exit 1). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *mode, const char *why)
{
  printf("%s FAIL: %s (errno %d)\n", mode, why, errno);
  fflush(stdout);
  return 1;
}

static volatile sig_atomic_t got, got_signo, got_pid, got_code, handler_mask_has_usr2;

static void on_info(int sig, siginfo_t *si, void *uc)
{
  (void)uc;
  got++;
  got_signo = si->si_signo;
  got_pid = si->si_pid;
  got_code = si->si_code;
  sigset_t now;
  sigprocmask(SIG_BLOCK, 0, &now);
  handler_mask_has_usr2 = sigismember(&now, SIGUSR2) && sigismember(&now, sig);
}

static void on_plain(int sig) { (void)sig; got++; }

static void set_handler(int sig, void (*fn)(int), int flags)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigaction(sig, &sa, 0);
}

/* `info`: SA_SIGINFO handler for SIGUSR1, run by raise and kill(getpid()) before they
 * return; sa_mask and the signal itself are blocked while it runs. */
static int info_mode(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_info;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR2);
  if (sigaction(SIGUSR1, &sa, 0) != 0) return fail("info", "sigaction");
  if (raise(SIGUSR1) != 0 || got != 1) return fail("info", "raise did not run the handler");
  if (got_signo != SIGUSR1 || got_pid != getpid()) return fail("info", "si_signo/si_pid");
  if (!handler_mask_has_usr2) return fail("info", "the handler's mask lacks sa_mask or the signal");
  if (kill(getpid(), SIGUSR1) != 0 || got != 2) return fail("info", "kill(getpid()) did not run the handler");
  if (got_code != SI_USER) return fail("info", "si_code of kill is not SI_USER");
  sigset_t now;
  sigprocmask(SIG_BLOCK, 0, &now);
  if (sigismember(&now, SIGUSR1) || sigismember(&now, SIGUSR2)) return fail("info", "mask not restored by sigreturn");
  printf("info ok signo %d pid-is-self code %d\n", (int)got_signo, (int)got_code);
  return 0;
}

/* `mask`: a blocked signal stays pending (sigpending) and runs when unblocked. */
static int mask_mode(void)
{
  set_handler(SIGUSR2, on_plain, 0);
  sigset_t set, pend;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, 0);
  raise(SIGUSR2);
  if (got != 0) return fail("mask", "ran while blocked");
  sigpending(&pend);
  if (!sigismember(&pend, SIGUSR2)) return fail("mask", "not in sigpending");
  sigprocmask(SIG_UNBLOCK, &set, 0);
  if (got != 1) return fail("mask", "unblocking did not run it");
  sigpending(&pend);
  if (sigismember(&pend, SIGUSR2)) return fail("mask", "still pending");
  printf("mask ok\n");
  return 0;
}

/* SIGUSR1 caught, blocked, and raised: pending until a call's mask lets it in. */
static void pend_usr1(void)
{
  set_handler(SIGUSR1, on_plain, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, 0);
  raise(SIGUSR1);
}

static int usr1_blocked(void)
{
  sigset_t now;
  sigprocmask(SIG_BLOCK, 0, &now);
  return sigismember(&now, SIGUSR1);
}

/* `suspend`: sigsuspend with the signal unblocked runs it, returns EINTR, and puts the
 * old mask back. */
static int suspend_mode(void)
{
  sigset_t empty;
  sigemptyset(&empty);
  pend_usr1();
  if (got != 0) return fail("suspend", "ran while blocked");
  if (sigsuspend(&empty) != -1 || errno != EINTR) return fail("suspend", "sigsuspend did not return EINTR");
  if (got != 1) return fail("suspend", "handler did not run");
  if (!usr1_blocked()) return fail("suspend", "old mask not restored");
  printf("suspend ok\n");
  return 0;
}

/* `chld`: SIGCHLD runs when a forked child exits; waitpid in the handler reaps it. */
static volatile sig_atomic_t reaped_status = -1, reaped_pid;
static void on_chld(int sig)
{
  (void)sig;
  int status;
  pid_t p = waitpid(-1, &status, WNOHANG);
  if (p > 0) reaped_pid = p, reaped_status = WEXITSTATUS(status);
}

static int chld_mode(void)
{
  set_handler(SIGCHLD, on_chld, SA_RESTART);
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, &old);
  pid_t pid = fork();
  if (pid < 0) return fail("chld", "fork");
  if (pid == 0) _exit(5);
  while (reaped_status < 0)
    sigsuspend(&old);
  if (reaped_pid != pid || reaped_status != 5) return fail("chld", "the handler did not reap the child");
  printf("chld ok status %d\n", (int)reaped_status);
  return 0;
}

/* `child`: a child with handlers: the parent's SIGUSR1 interrupts its pause(), its
 * SIGTERM its blocked read (EINTR); each handler writes to a pipe and the child exits
 * with a code of its own. */
static int out_fd;
static void on_usr1_write(int sig) { (void)sig; write(out_fd, "usr1 ", 5); }
static void on_term_write(int sig) { (void)sig; write(out_fd, "term ", 5); }

static int child_mode(void)
{
  int out[2], ready[2], block[2];
  if (pipe(out) != 0 || pipe(ready) != 0 || pipe(block) != 0) return fail("child", "pipe");
  pid_t kids[2];
  for (int i = 0; i < 2; i++) {
    kids[i] = fork();
    if (kids[i] < 0) return fail("child", "fork");
    if (kids[i] == 0) {
      out_fd = out[1];
      set_handler(SIGUSR1, on_usr1_write, 0);
      set_handler(SIGTERM, on_term_write, 0);
      write(ready[1], "r", 1);
      if (i == 0) {
        pause();
        write(out_fd, "paused ", 7);
        _exit(21);
      }
      char c;
      ssize_t n = read(block[0], &c, 1);
      if (n == -1 && errno == EINTR) write(out_fd, "eintr ", 6);
      _exit(22);
    }
  }
  char c;
  for (int i = 0; i < 2; i++)
    if (read(ready[0], &c, 1) != 1) return fail("child", "ready");
  if (kill(kids[0], SIGUSR1) != 0) return fail("child", "kill USR1");
  int status;
  if (waitpid(kids[0], &status, 0) != kids[0] || !WIFEXITED(status) || WEXITSTATUS(status) != 21)
    return fail("child", "USR1 child's status");
  if (kill(kids[1], SIGTERM) != 0) return fail("child", "kill TERM");
  if (waitpid(kids[1], &status, 0) != kids[1] || !WIFEXITED(status) || WEXITSTATUS(status) != 22)
    return fail("child", "TERM child's status");
  close(out[1]);
  char buf[128];
  ssize_t n, total = 0;
  while ((n = read(out[0], buf + total, sizeof buf - 1 - (size_t)total)) > 0) total += n;
  buf[total] = 0;
  printf("child ok: %s\n", buf);
  return 0;
}

/* `sigpipe`: a write with no reader fails with EPIPE and runs the SIGPIPE handler. */
static int sigpipe_mode(void)
{
  set_handler(SIGPIPE, on_plain, 0);
  int p[2];
  if (pipe(p) != 0) return fail("sigpipe", "pipe");
  close(p[0]);
  if (write(p[1], "x", 1) != -1 || errno != EPIPE) return fail("sigpipe", "no EPIPE");
  if (got != 1) return fail("sigpipe", "handler did not run");
  printf("sigpipe ok\n");
  return 0;
}

/* `fp`: SSE registers survive a handler that uses them (fxsave in the frame). */
static void on_fp(int sig)
{
  (void)sig;
  volatile double x = 3.25;
  double y = 7.0;
  __asm__ volatile("movsd %0, %%xmm6\n\tmovsd %0, %%xmm7" : : "m"(x) : "xmm6", "xmm7");
  __asm__ volatile("mulsd %%xmm6, %%xmm7" : : : "xmm7");
  y *= x;
  got += y > 22.0;
}

static int fp_mode(void)
{
  set_handler(SIGUSR1, on_fp, 0);
  double in6 = 1.5, in7 = 2.75, out6, out7;
  long pid = getpid(), r;
  __asm__ volatile(
      "movsd %[a], %%xmm6\n\t"
      "movsd %[b], %%xmm7\n\t"
      "syscall\n\t"
      "movsd %%xmm6, %[c]\n\t"
      "movsd %%xmm7, %[d]"
      : [c] "=m"(out6), [d] "=m"(out7), "=a"(r)
      : [a] "m"(in6), [b] "m"(in7), "a"(62L), "D"(pid), "S"((long)SIGUSR1)
      : "rcx", "r11", "xmm6", "xmm7", "memory");
  if (r != 0) return fail("fp", "kill");
  if (got != 1) return fail("fp", "handler did not run");
  if (out6 != 1.5 || out7 != 2.75) return fail("fp", "xmm6/xmm7 changed by the handler");
  printf("fp ok\n");
  return 0;
}

/* `resethand`: SA_RESETHAND runs the handler once and puts SIG_DFL back; SA_NODEFER
 * leaves the signal unblocked in its handler. */
static volatile sig_atomic_t nodefer_unblocked;
static void on_nodefer(int sig)
{
  sigset_t now;
  sigprocmask(SIG_BLOCK, 0, &now);
  nodefer_unblocked = !sigismember(&now, sig);
  got++;
}

static int resethand_mode(void)
{
  set_handler(SIGUSR2, on_nodefer, SA_RESETHAND | SA_NODEFER);
  raise(SIGUSR2);
  struct sigaction now;
  sigaction(SIGUSR2, 0, &now);
  if (got != 1 || now.sa_handler != SIG_DFL) return fail("resethand", "not reset to SIG_DFL");
  if (!nodefer_unblocked) return fail("resethand", "SA_NODEFER blocked the signal");
  printf("resethand ok\n");
  return 0;
}

/* `restart`: a read blocked on a pipe is interrupted by a signal from another pVM; with
 * SA_RESTART it goes on and returns the bytes that come after. */
static int restart_mode(void)
{
  set_handler(SIGUSR1, on_plain, SA_RESTART);
  int p[2];
  if (pipe(p) != 0) return fail("restart", "pipe");
  pid_t parent = getpid(), pid = fork();
  if (pid < 0) return fail("restart", "fork");
  if (pid == 0) {
    struct timespec t = {0, 50 * 1000 * 1000};
    nanosleep(&t, 0);
    kill(parent, SIGUSR1);
    nanosleep(&t, 0);
    write(p[1], "late", 4);
    _exit(0);
  }
  close(p[1]);
  char buf[8];
  ssize_t n = read(p[0], buf, sizeof buf);
  if (n != 4 || memcmp(buf, "late", 4) != 0) return fail("restart", "read did not restart");
  if (got != 1) return fail("restart", "handler did not run");
  waitpid(pid, 0, 0);
  printf("restart ok\n");
  return 0;
}

/* `alarm`: setitimer(ITIMER_REAL) one-shot and periodic end pause(); alarm() says what
 * was left; SIGALRM interrupts a blocked waitpid (EINTR without SA_RESTART). */
static int alarm_mode(void)
{
  set_handler(SIGALRM, on_plain, 0);
  struct itimerval it = {{0, 0}, {0, 30000}};
  if (setitimer(ITIMER_REAL, &it, 0) != 0) return fail("alarm", "setitimer");
  if (pause() != -1 || errno != EINTR || got != 1) return fail("alarm", "one-shot did not end pause");
  it.it_interval.tv_usec = 20000;
  it.it_value.tv_usec = 20000;
  setitimer(ITIMER_REAL, &it, 0);
  while (got < 4) pause();
  memset(&it, 0, sizeof it);
  setitimer(ITIMER_REAL, &it, 0);
  if (alarm(5) != 0) return fail("alarm", "alarm(5) after a disarmed timer");
  unsigned left = alarm(0);
  if (left < 4 || left > 5) return fail("alarm", "alarm(0) did not say 5");
  pid_t pid = fork();
  if (pid < 0) return fail("alarm", "fork");
  if (pid == 0) {
    for (;;) pause();
  }
  it.it_value.tv_usec = 30000;
  it.it_interval.tv_usec = 0;
  setitimer(ITIMER_REAL, &it, 0);
  int status;
  if (waitpid(pid, &status, 0) != -1 || errno != EINTR) return fail("alarm", "waitpid not interrupted");
  if (got != 5) return fail("alarm", "handler did not run for waitpid");
  kill(pid, SIGKILL);
  if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status)) return fail("alarm", "child not killed");
  printf("alarm ok\n");
  return 0;
}

/* `inherit`: a fork child keeps handlers and mask, with nothing pending; execve resets
 * handlers to SIG_DFL, keeps ignored signals ignored and the mask (mode `execed`). */
static int execed_mode(void)
{
  struct sigaction now;
  sigaction(SIGUSR1, 0, &now);
  if (now.sa_handler != SIG_DFL) return fail("execed", "handler kept across execve");
  sigaction(SIGPIPE, 0, &now);
  if (now.sa_handler != SIG_IGN) return fail("execed", "SIG_IGN not kept across execve");
  sigset_t mask;
  sigprocmask(SIG_BLOCK, 0, &mask);
  if (!sigismember(&mask, SIGUSR2)) return fail("execed", "mask not kept across execve");
  printf("execed ok\n");
  return 0;
}

static int inherit_mode(void)
{
  set_handler(SIGUSR1, on_plain, 0);
  set_handler(SIGUSR2, on_plain, 0);
  signal(SIGPIPE, SIG_IGN);
  sigset_t set, pend;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  sigprocmask(SIG_BLOCK, &set, 0);
  raise(SIGUSR2);
  pid_t pid = fork();
  if (pid < 0) return fail("inherit", "fork");
  if (pid == 0) {
    sigpending(&pend);
    if (sigismember(&pend, SIGUSR2)) _exit(10);  /* pending is not inherited */
    sigprocmask(SIG_BLOCK, 0, &set);
    if (!sigismember(&set, SIGUSR2)) _exit(11);  /* the mask is */
    raise(SIGUSR1);
    if (got != 1) _exit(12);                     /* and the handlers */
    char *argv[] = {"linux_signals", "execed", 0};
    execv("/proc/self/exe", argv);
    _exit(13);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail("inherit", "the child's checks");
  sigprocmask(SIG_UNBLOCK, &set, 0);
  if (got != 1) return fail("inherit", "the parent's pending USR2 did not run");
  printf("inherit ok\n");
  return 0;
}

/* `altstack`: an SA_ONSTACK handler runs on the sigaltstack, which then says SS_ONSTACK. */
static char alt[65536];
static volatile sig_atomic_t on_alt, alt_flags;
static void on_altstack(int sig)
{
  (void)sig;
  char here;
  on_alt = &here >= alt && &here < alt + sizeof alt;
  stack_t now;
  sigaltstack(0, &now);
  alt_flags = now.ss_flags;
  got++;
}

static int altstack_mode(void)
{
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
  if (sigaltstack(&ss, 0) != 0) return fail("altstack", "sigaltstack");
  set_handler(SIGUSR1, on_altstack, SA_ONSTACK);
  raise(SIGUSR1);
  if (got != 1 || !on_alt) return fail("altstack", "the handler did not run on the alternate stack");
  if (alt_flags != SS_ONSTACK) return fail("altstack", "sigaltstack did not say SS_ONSTACK in the handler");
  stack_t now;
  sigaltstack(0, &now);
  if (now.ss_flags != 0 || now.ss_sp != alt) return fail("altstack", "not back off it");
  printf("altstack ok\n");
  return 0;
}

/* `host`: the host's pvm.kill('SIGUSR1') runs the handler (pause() returns EINTR). */
static int host_mode(void)
{
  set_handler(SIGUSR1, on_plain, 0);
  printf("ready\n");
  while (got == 0)
    if (pause() != -1 || errno != EINTR) return fail("host", "pause");
  printf("host ok\n");
  return 0;
}

/* `ppoll`: ppoll's mask unblocks a pending signal while it waits: the handler runs,
 * ppoll returns EINTR, and the mask is back after. */
static int ppoll_mode(void)
{
  sigset_t empty;
  sigemptyset(&empty);
  pend_usr1();
  int p[2];
  if (pipe(p) != 0) return fail("ppoll", "pipe");
  struct pollfd fd = {p[0], POLLIN, 0};
  struct timespec t = {5, 0};
  if (ppoll(&fd, 1, &t, &empty) != -1 || errno != EINTR) return fail("ppoll", "not EINTR");
  if (got != 1) return fail("ppoll", "handler did not run");
  if (!usr1_blocked()) return fail("ppoll", "mask not restored");
  printf("ppoll ok\n");
  return 0;
}

int main(int argc, char **argv)
{
  setvbuf(stdout, 0, _IONBF, 0);
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "info") == 0) return info_mode();
  if (strcmp(mode, "mask") == 0) return mask_mode();
  if (strcmp(mode, "suspend") == 0) return suspend_mode();
  if (strcmp(mode, "chld") == 0) return chld_mode();
  if (strcmp(mode, "child") == 0) return child_mode();
  if (strcmp(mode, "sigpipe") == 0) return sigpipe_mode();
  if (strcmp(mode, "fp") == 0) return fp_mode();
  if (strcmp(mode, "resethand") == 0) return resethand_mode();
  if (strcmp(mode, "restart") == 0) return restart_mode();
  if (strcmp(mode, "alarm") == 0) return alarm_mode();
  if (strcmp(mode, "inherit") == 0) return inherit_mode();
  if (strcmp(mode, "altstack") == 0) return altstack_mode();
  if (strcmp(mode, "host") == 0) return host_mode();
  if (strcmp(mode, "ppoll") == 0) return ppoll_mode();
  if (strcmp(mode, "execed") == 0) return execed_mode();
  printf("usage: linux_signals info|mask|suspend|chld|child|sigpipe|fp|resethand|restart|alarm|inherit|altstack|host|ppoll\n");
  return 2;
}
