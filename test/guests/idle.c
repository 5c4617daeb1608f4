/*
 * idle [MiB]: a pVM that waits for the host. Touches (writes one byte per 4 KiB page
 * of) MiB mebibytes of heap (0 without an argument), prints
 *   "idle: ready"
 * then sleeps in WAIT (no channels, no time limit) forever. Whenever it wakes it looks
 * at pvm_fork_channel(): in a child the host forked from it (which continues right
 * here) that is a channel to the host, and the pVM serves it as an echo server: every
 * message received is sent back unchanged. When the host closes the channel (EPIPE)
 * it exits 0. "idle: malloc failed" and exit 1 if the memory cannot be had; other
 * channel errors print "idle: <what> failed: <error>" and exit 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char msg[PVM_CHANNEL_MAX_MESSAGE];

/* Echo on `slot` until it ends: 0 = the host closed it, -PVM_EBADF = the slot is not
 * (any longer) open here. */
static long serve(uint32_t slot)
{
  for (;;) {
    long n = pvm_channel_recv(slot, msg, sizeof msg);
    if (n == -PVM_EPIPE)
      return 0;
    if (n == -PVM_EBADF)
      return n;
    if (n < 0) {
      printf("idle: recv failed: %s\n", pvm_strerror(n));
      exit(1);
    }
    /* "touch <MiB>": write that much fresh memory, answer "touched <MiB>". */
    if (n > 6 && n < 32 && memcmp(msg, "touch ", 6) == 0) {
      msg[n] = 0;
      size_t mib = (size_t)strtoul((char *)msg + 6, 0, 10);
      volatile unsigned char *p = malloc(mib << 20);
      for (size_t off = 0; p && off < mib << 20; off += 4096)
        p[off] = 2;
      n = snprintf((char *)msg, sizeof msg, p ? "touched %zu" : "touch failed", mib);
    }
    long r = pvm_channel_send(slot, msg, (size_t)n);
    if (r == -PVM_EPIPE)
      return 0;
    if (r == -PVM_EBADF)
      return r;
    if (r < 0) {
      printf("idle: send failed: %s\n", pvm_strerror(r));
      exit(1);
    }
  }
}

int main(int argc, char **argv)
{
  size_t mib = argc > 1 ? (size_t)strtoul(argv[1], 0, 10) : 0;
  if (mib) {
    volatile unsigned char *p = malloc(mib << 20);
    if (!p) {
      printf("idle: malloc failed\n");
      return 1;
    }
    for (size_t off = 0; off < mib << 20; off += 4096)
      p[off] = 1;
  }
  printf("idle: ready\n");
  for (;;) {
    uint32_t slot = pvm_fork_channel();
    if (slot != PVM_CHANNEL_NONE && pvm_channel_is_open(slot)) {
      if (serve(slot) == 0)
        return 0;
      continue; /* the slot went away under us (a fork of this copy?): look again */
    }
    long r = pvm_wait(0, 0, ~0ULL);
    if (r < 0) {
      printf("idle: wait failed: %s\n", pvm_strerror(r));
      return 1;
    }
  }
}
