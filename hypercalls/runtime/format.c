/*
 * The printf engine shared by printf(), snprintf() and friends.
 * Conversions: d i u x X o p s c f F %; flags - 0 + space #; width and precision as
 * numbers or '*'; length modifiers hh h l ll z j t L.
 */
#include <string.h>
#include "internal.h"

enum {
  F_LEFT = 1,   /* '-' */
  F_ZERO = 2,   /* '0' */
  F_PLUS = 4,   /* '+' */
  F_SPACE = 8,  /* ' ' */
  F_ALT = 16,   /* '#' */
  F_UPPER = 32, /* %X, %F */
};

struct out {
  pvm_sink_fn sink;
  void *ctx;
  int count;
};

static void put(struct out *o, const char *s, size_t n)
{
  if (n) {
    o->sink(o->ctx, s, n);
    o->count += (int)n;
  }
}

static void pad(struct out *o, char c, int n)
{
  char buf[32];
  if (n <= 0)
    return;
  memset(buf, c, sizeof buf);
  while (n > 0) {
    int k = n < (int)sizeof buf ? n : (int)sizeof buf;
    put(o, buf, (size_t)k);
    n -= k;
  }
}

/*
 * One field: [spaces] prefix [zeros] body [spaces], `zeros` leading zeros asked by the
 * precision; with '0' (and no '-') the width is filled with zeros after the prefix.
 */
static void field(struct out *o, int flags, int width, const char *prefix, size_t plen,
                  int zeros, const char *body, size_t blen)
{
  int len = (int)(plen + blen) + (zeros > 0 ? zeros : 0);
  int fill = width > len ? width - len : 0;
  if (!(flags & F_LEFT) && !(flags & F_ZERO))
    pad(o, ' ', fill);
  put(o, prefix, plen);
  if (!(flags & F_LEFT) && (flags & F_ZERO))
    pad(o, '0', fill);
  pad(o, '0', zeros);
  put(o, body, blen);
  if (flags & F_LEFT)
    pad(o, ' ', fill);
}

/* Digits of `v` in `base`, written backwards ending at `end`; returns the first digit. */
static char *utoa(char *end, unsigned long long v, unsigned base, int upper)
{
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char *p = end;
  do {
    *--p = digits[v % base];
    v /= base;
  } while (v);
  return p;
}

static void format_int(struct out *o, int flags, int width, int prec, unsigned long long v,
                       int negative, unsigned base, char conv)
{
  char buf[24];
  char *end = buf + sizeof buf;
  char prefix[3];
  size_t plen = 0;
  char *digits;
  size_t ndig;

  if (negative)
    prefix[plen++] = '-';
  else if (conv == 'd' && (flags & F_PLUS))
    prefix[plen++] = '+';
  else if (conv == 'd' && (flags & F_SPACE))
    prefix[plen++] = ' ';

  if (prec == 0 && v == 0) {
    digits = end; /* "%.0d" of 0 prints no digit */
  } else {
    digits = utoa(end, v, base, flags & F_UPPER);
  }
  ndig = (size_t)(end - digits);

  if ((flags & F_ALT) && v != 0 && base == 16) {
    prefix[plen++] = '0';
    prefix[plen++] = (flags & F_UPPER) ? 'X' : 'x';
  }
  int zeros = prec > (int)ndig ? prec - (int)ndig : 0;
  if ((flags & F_ALT) && base == 8 && zeros == 0 && (ndig == 0 || *digits != '0'))
    zeros = 1; /* "%#o" always starts with 0 */
  if (prec >= 0)
    flags &= ~F_ZERO; /* a precision turns the '0' flag off */
  field(o, flags, width, prefix, plen, zeros, digits, ndig);
}

static void format_double(struct out *o, int flags, int width, int prec, double v)
{
  char buf[400]; /* DBL_MAX has 309 integer digits */
  char prefix[1];
  size_t plen = 0;
  union { double d; uint64_t u; } bits = { .d = v };

  if (bits.u >> 63) {
    prefix[plen++] = '-';
    v = -v;
  } else if (flags & F_PLUS) {
    prefix[plen++] = '+';
  } else if (flags & F_SPACE) {
    prefix[plen++] = ' ';
  }
  if (v != v || v - v != 0) { /* NaN or infinity */
    const char *s = v != v ? ((flags & F_UPPER) ? "NAN" : "nan")
                           : ((flags & F_UPPER) ? "INF" : "inf");
    field(o, flags & ~F_ZERO, width, prefix, plen, 0, s, 3);
    return;
  }
  if (prec < 0)
    prec = 6;
  if (prec > 40)
    prec = 40;

  /* Round half-up at the last printed digit, then split integer and fraction. */
  double r = 0.5;
  for (int i = 0; i < prec; i++)
    r /= 10;
  v += r;

  /* Integer part: scale down below 2^63 counting tens, print those digits, then zeros
   * (digits beyond double precision are not meaningful anyway). */
  int tens = 0;
  double ip = v;
  while (ip >= 9.2e18) {
    ip /= 10;
    tens++;
  }
  unsigned long long whole = (unsigned long long)ip;
  char *end = buf + 24;
  char *p = utoa(end, whole, 10, 0);
  size_t n = (size_t)(end - p);
  memmove(buf, p, n);
  for (int i = 0; i < tens; i++)
    buf[n++] = '0';

  double frac = tens ? 0 : v - (double)whole;
  if (prec > 0 || (flags & F_ALT))
    buf[n++] = '.';
  for (int i = 0; i < prec; i++) {
    frac *= 10;
    int d = (int)frac;
    if (d > 9)
      d = 9;
    buf[n++] = (char)('0' + d);
    frac -= d;
  }
  field(o, flags, width, prefix, plen, 0, buf, n);
}

int __pvm_vformat(pvm_sink_fn sink, void *ctx, const char *fmt, va_list ap)
{
  struct out o = { sink, ctx, 0 };
  va_list args;
  va_copy(args, ap);

  while (*fmt) {
    if (*fmt != '%') {
      const char *start = fmt;
      while (*fmt && *fmt != '%')
        fmt++;
      put(&o, start, (size_t)(fmt - start));
      continue;
    }
    const char *spec = fmt++;

    int flags = 0;
    for (;; fmt++) {
      if (*fmt == '-') flags |= F_LEFT;
      else if (*fmt == '0') flags |= F_ZERO;
      else if (*fmt == '+') flags |= F_PLUS;
      else if (*fmt == ' ') flags |= F_SPACE;
      else if (*fmt == '#') flags |= F_ALT;
      else break;
    }

    int width = 0;
    if (*fmt == '*') {
      width = va_arg(args, int);
      if (width < 0) {
        flags |= F_LEFT;
        width = -width;
      }
      fmt++;
    } else {
      while (*fmt >= '0' && *fmt <= '9')
        width = width * 10 + (*fmt++ - '0');
    }

    int prec = -1;
    if (*fmt == '.') {
      fmt++;
      prec = 0;
      if (*fmt == '*') {
        prec = va_arg(args, int);
        if (prec < 0)
          prec = -1;
        fmt++;
      } else {
        while (*fmt >= '0' && *fmt <= '9')
          prec = prec * 10 + (*fmt++ - '0');
      }
    }

    /* Length: 1 = hh, 2 = h, 3 = l/z/j/t, 4 = ll, 5 = L. */
    int len = 0;
    switch (*fmt) {
    case 'h':
      len = fmt[1] == 'h' ? 1 : 2;
      fmt += len == 1 ? 2 : 1;
      break;
    case 'l':
      len = fmt[1] == 'l' ? 4 : 3;
      fmt += len == 4 ? 2 : 1;
      break;
    case 'z': case 'j': case 't':
      len = 3;
      fmt++;
      break;
    case 'L':
      len = 5;
      fmt++;
      break;
    }

    char conv = *fmt;
    if (conv)
      fmt++;
    switch (conv) {
    case 'd':
    case 'i': {
      long long v;
      if (len == 4) v = va_arg(args, long long);
      else if (len == 3) v = va_arg(args, long);
      else v = va_arg(args, int);
      if (len == 1) v = (signed char)v;
      else if (len == 2) v = (short)v;
      unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
      format_int(&o, flags, width, prec, u, v < 0, 10, 'd');
      break;
    }
    case 'u': case 'x': case 'X': case 'o': {
      unsigned long long v;
      if (len == 4) v = va_arg(args, unsigned long long);
      else if (len == 3) v = va_arg(args, unsigned long);
      else v = va_arg(args, unsigned int);
      if (len == 1) v = (unsigned char)v;
      else if (len == 2) v = (unsigned short)v;
      if (conv == 'X')
        flags |= F_UPPER;
      format_int(&o, flags, width, prec, v, 0, conv == 'u' ? 10 : conv == 'o' ? 8 : 16, conv);
      break;
    }
    case 'p': {
      void *ptr = va_arg(args, void *);
      if (!ptr)
        field(&o, flags & ~F_ZERO, width, "", 0, 0, "(nil)", 5);
      else
        format_int(&o, flags | F_ALT, width, prec, (uintptr_t)ptr, 0, 16, 'p');
      break;
    }
    case 'c': {
      char c = (char)va_arg(args, int);
      field(&o, flags & ~F_ZERO, width, "", 0, 0, &c, 1);
      break;
    }
    case 's': {
      const char *s = va_arg(args, const char *);
      if (!s)
        s = "(null)";
      size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
      field(&o, flags & ~F_ZERO, width, "", 0, 0, s, n);
      break;
    }
    case 'f':
    case 'F': {
      double v = len == 5 ? (double)va_arg(args, long double) : va_arg(args, double);
      if (conv == 'F')
        flags |= F_UPPER;
      format_double(&o, flags, width, prec, v);
      break;
    }
    case '%':
      put(&o, "%", 1);
      break;
    default:
      /* Unknown conversion: print it as it was written. */
      put(&o, spec, (size_t)(fmt - spec));
      break;
    }
  }
  va_end(args);
  return o.count;
}
