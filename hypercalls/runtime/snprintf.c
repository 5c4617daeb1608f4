/* Formatting into memory: snprintf(), vsnprintf(), sprintf(). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

struct buf {
  char *p;
  size_t room; /* bytes that may still be written, keeping one for the NUL */
};

static void buf_sink(void *ctx, const char *s, size_t n)
{
  struct buf *b = ctx;
  size_t k = n < b->room ? n : b->room;
  memcpy(b->p, s, k);
  b->p += k;
  b->room -= k;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
  struct buf b = { buf, size ? size - 1 : 0 };
  int n = __pvm_vformat(buf_sink, &b, fmt, ap);
  if (size)
    *b.p = '\0';
  return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

int sprintf(char *buf, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, (size_t)INT_MAX + 1, fmt, ap);
  va_end(ap);
  return n;
}
