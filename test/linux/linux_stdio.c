/*
 * A static Linux program (musl-gcc -static) for a pVM's environment and standard input
 * from the host: `linux_stdio <mode>`. Each mode prints "<mode> ok ..." on success or
 * "<mode> FAIL: why" and exits 1. Built unchanged: no pvm header in sight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int fail(const char *mode, const char *why)
{
  printf("%s FAIL: %s (errno %d)\n", mode, why, errno);
  return 1;
}

/* `env`: every variable, one a line, then the count. */
static int env(void)
{
  int n = 0;
  for (char **e = environ; *e; e++, n++)
    printf("%s\n", *e);
  printf("env ok %d\n", n);
  return 0;
}

/* `cat`: fd 0 to end of file in small reads, echoed; then the byte count. */
static int cat(void)
{
  char buf[7];
  long total = 0;
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n < 0) return fail("cat", "read");
    if (n == 0) break;
    if (write(1, buf, (size_t)n) != n) return fail("cat", "write");  /* unbuffered: the host sees it at once */
    total += n;
  }
  printf("\ncat ok %ld\n", total);
  return 0;
}

/* `poll`: O_NONBLOCK read is EAGAIN while nothing came; poll and select wait for the
 * host's bytes; FIONREAD counts them; after the host's end, POLLIN and read 0. */
static int pollmode(void)
{
  int fl = fcntl(0, F_GETFL);
  if (fcntl(0, F_SETFL, fl | O_NONBLOCK) != 0) return fail("poll", "F_SETFL");
  char buf[64];
  if (read(0, buf, sizeof buf) != -1 || errno != EAGAIN) return fail("poll", "a non-blocking read of nothing is not EAGAIN");
  struct pollfd p = {0, POLLIN, 0};
  if (poll(&p, 1, 0) != 0) return fail("poll", "poll says readable before anything came");
  printf("waiting\n");
  fflush(stdout);
  if (poll(&p, 1, -1) != 1 || !(p.revents & POLLIN)) return fail("poll", "poll");
  int waiting = -1;
  if (ioctl(0, FIONREAD, &waiting) != 0) return fail("poll", "FIONREAD");
  ssize_t n = read(0, buf, sizeof buf);
  if (n <= 0) return fail("poll", "read after POLLIN");
  printf("got %.*s fionread %d\n", (int)n, buf, waiting);
  fflush(stdout);
  fd_set r;
  FD_ZERO(&r);
  FD_SET(0, &r);
  if (select(1, &r, 0, 0, 0) != 1 || !FD_ISSET(0, &r)) return fail("poll", "select");
  n = read(0, buf, sizeof buf);
  if (n != 0) return fail("poll", "no end of file after the host's end");
  printf("poll ok\n");
  return 0;
}

/* `fork`: read 2 bytes, fork; the child reads the rest (a copy of what its parent had),
 * then the parent does too. */
static int forkmode(void)
{
  char head[2], rest[256];
  if (read(0, head, 2) != 2) return fail("fork", "read 2");
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return fail("fork", "fork");
  ssize_t n = 0, got;
  while ((got = read(0, rest + n, sizeof rest - 1 - (size_t)n)) > 0) n += got;
  rest[n] = 0;
  if (pid == 0) {
    printf("child %s\n", rest);
    fflush(stdout);
    _exit(0);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) return fail("fork", "waitpid");
  printf("fork ok %.2s parent %s\n", head, rest);
  return 0;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "env")) return env();
  if (!strcmp(mode, "cat")) return cat();
  if (!strcmp(mode, "poll")) return pollmode();
  if (!strcmp(mode, "fork")) return forkmode();
  printf("usage: linux_stdio env|cat|poll|fork\n");
  return 2;
}
