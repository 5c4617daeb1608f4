/*
 * Standard input from the host (the console's fd 0 and its dups): the bytes the host
 * wrote (the stdin spawn option, Pvm.stdin), which the monitor keeps until STDIN_READ
 * takes them. A blocked read sleeps in WAIT with no channel and no limit: the host's
 * Stdin message wakes it (as any host request does), so it costs no CPU while it waits.
 *
 * A fork child's monitor starts with its input at its end. So that the child reads what
 * its parent had been given and not read yet (a shell's `wc` reads the shell's input),
 * the parent takes what is waiting (up to BUFFERED bytes) into its own memory just
 * before the fork: the child gets a copy of it, then end of file; the parent reads it
 * first, then goes on with the host's. An execve carries what it holds to the new image.
 */
#include "linux.h"

#define BUFFERED 65536
static uint8_t buffered[BUFFERED];
static uint32_t buffered_at, buffered_len;

long linux_stdin_read(void *buf, uint64_t len, int nonblock)
{
  if (len == 0)
    return 0;
  if (buffered_len) {
    uint32_t n = len < buffered_len ? (uint32_t)len : buffered_len;
    memcpy(buf, buffered + buffered_at, n);
    buffered_at += n;
    buffered_len -= n;
    return n;
  }
  for (;;) {
    long r = pvm_hypercall2(PVM_HC_STDIN_READ, (long)(uintptr_t)buf, (long)len);
    if (r != -PVM_EAGAIN)
      return r >= 0 ? r : -L_EFAULT;
    if (nonblock)
      return -L_EAGAIN;
    linux_sleep_ns(~0ull);  /* until the host writes (or anything else wakes it) */
  }
}

int linux_stdin_ready(void)
{
  return buffered_len != 0 || pvm_hypercall2(PVM_HC_STDIN_READ, 0, 0) >= 0;
}

long linux_stdin_waiting(void)
{
  long r = pvm_hypercall2(PVM_HC_STDIN_READ, 0, 0);
  return buffered_len + (r > 0 ? r : 0);
}

void linux_stdin_fork_prepare(void)
{
  if (buffered_at) {
    memcpy(buffered, buffered + buffered_at, buffered_len);  /* memmove-safe: forward, lower */
    buffered_at = 0;
  }
  while (buffered_len < BUFFERED) {
    long r = pvm_hypercall2(PVM_HC_STDIN_READ, (long)(uintptr_t)(buffered + buffered_len), BUFFERED - buffered_len);
    if (r <= 0)
      break;
    buffered_len += (uint32_t)r;
  }
}

uint32_t linux_stdin_buffered(void) { return buffered_len; }

uint32_t linux_stdin_save(uint8_t *out)
{
  memcpy(out, buffered + buffered_at, buffered_len);
  return buffered_len;
}

void linux_stdin_restore(const uint8_t *in, uint32_t len)
{
  if (len > BUFFERED)
    len = BUFFERED;
  memcpy(buffered, in, len);
  buffered_at = 0;
  buffered_len = len;
}
