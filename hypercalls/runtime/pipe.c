/*
 * Pipe-like byte streams over a channel: pvm_pipe_write() cuts bytes into messages,
 * pvm_pipe_read() hands them out in whatever amounts the reader asks for, keeping the
 * rest of a message for the next read (so boundaries do not matter, as with a pipe).
 */
#include <pvm.h>
#include <stdlib.h>
#include <string.h>

/* What is left of the last message read from each slot. */
struct leftover {
  unsigned char *bytes; /* PVM_CHANNEL_MAX_MESSAGE bytes, allocated on first use */
  size_t start, end;
};
static struct leftover left[PVM_CHANNEL_SLOTS];

void pvm_pipe_forget(uint32_t slot)
{
  if (slot < PVM_CHANNEL_SLOTS)
    left[slot].start = left[slot].end = 0;
}

long pvm_pipe_write(uint32_t slot, const void *buf, size_t len)
{
  const unsigned char *p = buf;
  size_t done = 0;
  while (done < len) {
    size_t n = len - done < PVM_CHANNEL_MAX_MESSAGE ? len - done : PVM_CHANNEL_MAX_MESSAGE;
    int r = pvm_channel_send(slot, p + done, n);
    if (r < 0)
      return done ? (long)done : r;
    done += n;
  }
  return (long)done;
}

long pvm_pipe_read(uint32_t slot, void *buf, size_t cap)
{
  if (slot >= PVM_CHANNEL_SLOTS)
    return -PVM_EBADF;
  if (cap == 0)
    return 0;
  struct leftover *l = &left[slot];
  if (l->start == l->end) {
    if (!l->bytes && !(l->bytes = malloc(PVM_CHANNEL_MAX_MESSAGE)))
      return -PVM_ENOMEM;
    long n;
    do {
      n = pvm_channel_recv(slot, l->bytes, PVM_CHANNEL_MAX_MESSAGE);
    } while (n == 0); /* an empty message carries no bytes: not end of stream */
    if (n == -PVM_EPIPE)
      return 0; /* end of stream, as read(2) says it */
    if (n < 0)
      return n;
    l->start = 0;
    l->end = (size_t)n;
  }
  size_t n = l->end - l->start < cap ? l->end - l->start : cap;
  memcpy(buf, l->bytes + l->start, n);
  l->start += n;
  return (long)n;
}
