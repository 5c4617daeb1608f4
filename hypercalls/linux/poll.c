/* poll, ppoll, select, pselect6 over the descriptors fd.c keeps (pipes, the console):
 * look at each, and wait for one to be ready the way a blocked pipe does (sleep.c). */
#include "linux.h"

#define POLLIN_L 1
#define POLLOUT_L 4
#define POLLERR_L 8
#define POLLHUP_L 0x10
#define POLLNVAL_L 0x20
#define MAX_FDS LINUX_MAX_FDS

struct pollfd_l { int fd; short events, revents; };

/* Runs `scan` until it finds something ready or timeout_ns (< 0: none) passes. */
static long poll_loop(long (*scan)(void *), void *ctx, int64_t timeout_ns)
{
  struct linux_backoff b = {0, 0};
  uint64_t deadline = 0;
  if (timeout_ns > 0)
    deadline = linux_now_ns() + (uint64_t)timeout_ns;
  for (;;) {
    long n = scan(ctx);
    if (n != 0 || timeout_ns == 0)
      return n;
    if (timeout_ns > 0) {
      uint64_t now = linux_now_ns();
      if (now >= deadline)
        return 0;
      if (b.spins >= 200 && b.sleep_ns * 2 > deadline - now)
        b.sleep_ns = (deadline - now) / 2;
    }
    if (linux_signal_interrupts())
      return -L_EINTR;
    linux_backoff_wait(&b);
  }
}

struct poll_ctx { struct pollfd_l *fds; uint64_t n; };

static long poll_scan(void *ctx_)
{
  struct poll_ctx *c = ctx_;
  long count = 0;
  for (uint64_t i = 0; i < c->n; i++) {
    c->fds[i].revents = c->fds[i].fd < 0 ? 0 : linux_fd_ready(c->fds[i].fd, c->fds[i].events);
    if (c->fds[i].revents)
      count++;
  }
  return count;
}

long linux_poll(void *fds_, uint64_t nfds, int64_t timeout_ns)
{
  if (nfds > MAX_FDS * 4)
    return -L_EINVAL;
  struct poll_ctx c = {fds_, nfds};
  return poll_loop(poll_scan, &c, timeout_ns);
}

struct select_ctx { long n; uint64_t *r, *w, *e, in_r[4], in_w[4]; };

static long select_scan(void *ctx_)
{
  struct select_ctx *c = ctx_;
  long count = 0;
  uint64_t out_r[4] = {0}, out_w[4] = {0};
  for (long fd = 0; fd < c->n; fd++) {
    uint64_t bit = 1ull << (fd % 64);
    int want_r = (c->in_r[fd / 64] & bit) != 0, want_w = (c->in_w[fd / 64] & bit) != 0;
    if (!want_r && !want_w)
      continue;
    short got = linux_fd_ready(fd, (short)((want_r ? POLLIN_L : 0) | (want_w ? POLLOUT_L : 0)));
    if (got & POLLNVAL_L)
      return -L_EBADF;
    if (want_r && (got & (POLLIN_L | POLLHUP_L | POLLERR_L))) out_r[fd / 64] |= bit, count++;
    if (want_w && (got & (POLLOUT_L | POLLERR_L))) out_w[fd / 64] |= bit, count++;
  }
  if (count) {
    unsigned words = (unsigned)((c->n + 63) / 64);
    if (c->r) memcpy(c->r, out_r, words * 8);
    if (c->w) memcpy(c->w, out_w, words * 8);
    if (c->e) memset(c->e, 0, words * 8);
  }
  return count;
}

long linux_select(long nfds, uint64_t *r, uint64_t *w, uint64_t *e, int64_t timeout_ns)
{
  if (nfds < 0 || nfds > MAX_FDS)
    return -L_EINVAL;
  struct select_ctx c = {nfds, r, w, e, {0}, {0}};
  unsigned words = (unsigned)((nfds + 63) / 64);
  if (r) memcpy(c.in_r, r, words * 8);
  if (w) memcpy(c.in_w, w, words * 8);
  long n = poll_loop(select_scan, &c, timeout_ns);
  if (n == 0) {
    if (r) memset(r, 0, words * 8);
    if (w) memset(w, 0, words * 8);
    if (e) memset(e, 0, words * 8);
  }
  return n;
}

