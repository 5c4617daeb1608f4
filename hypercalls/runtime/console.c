/*
 * The console: a byte ring in guest memory (boot_info->console_gpa, console_size bytes).
 * The guest advances console_head, the monitor advances console_tail; both indices run
 * free (byte i lives at console_gpa + i % console_size). The monitor drains the ring at
 * every exit, so the only exit made here is a CONSOLE_FLUSH when the ring is full.
 */
#include <string.h>
#include "internal.h"

static inline uint64_t read_tail(const struct pvm_boot_info *bi)
{
  return *(const volatile uint64_t *)&bi->console_tail;
}

size_t pvm_console_write(const void *buf, size_t len)
{
  struct pvm_boot_info *bi = __pvm_boot;
  uint64_t size = bi->console_size;
  if (size == 0)
    return len; /* no console: output is discarded */
  char *ring = (char *)(uintptr_t)bi->console_gpa;
  uint64_t head = bi->console_head;
  const char *p = buf;
  size_t left = len;
  while (left > 0) {
    uint64_t tail = read_tail(bi);
    uint64_t used = head - tail;
    if (used >= size) {
      /* Full: let the monitor drain it. If it cannot (or will not), drop the rest
       * rather than spin on exits. */
      if (pvm_hypercall0(PVM_HC_CONSOLE_FLUSH) < 0 || read_tail(bi) == tail)
        break;
      continue;
    }
    uint64_t off = head % size;
    uint64_t n = size - used;       /* free space */
    if (n > size - off)
      n = size - off;               /* up to the end of the ring */
    if (n > left)
      n = left;
    memcpy(ring + off, p, n);
    p += n;
    left -= n;
    head += n;
    /* Data before index: a fault right after this call must find the bytes in place. */
    __asm__ volatile("" ::: "memory");
    *(volatile uint64_t *)&bi->console_head = head;
  }
  return len - left;
}

uint64_t pvm_console_pending(void)
{
  const struct pvm_boot_info *bi = __pvm_boot;
  return bi->console_head - read_tail(bi);
}

long pvm_console_flush(void)
{
  if (pvm_console_pending() == 0)
    return 0;
  return pvm_hypercall0(PVM_HC_CONSOLE_FLUSH);
}

void __pvm_console_sink(void *ctx, const char *s, size_t n)
{
  (void)ctx;
  pvm_console_write(s, n);
}
