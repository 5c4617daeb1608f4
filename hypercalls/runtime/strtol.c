/* Number parsing: strtol() family and atoi() family. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

/*
 * Parse the magnitude of an integer. Returns it (saturated at ULLONG_MAX with
 * *overflow set), the sign in *negative, and the end in *end (s itself if no digit).
 */
static unsigned long long parse(const char *s, char **end, int base, int *negative,
                                int *overflow)
{
  const char *p = s;
  unsigned long long v = 0;
  int any = 0;

  *negative = 0;
  *overflow = 0;
  while (isspace((unsigned char)*p))
    p++;
  if (*p == '+' || *p == '-')
    *negative = *p++ == '-';
  if ((base == 0 || base == 16) && p[0] == '0' && (p[1] | 32) == 'x' && isxdigit((unsigned char)p[2])) {
    p += 2;
    base = 16;
  } else if (base == 0) {
    base = p[0] == '0' ? 8 : 10;
  }
  if (base < 2 || base > 36) {
    errno = EINVAL;
    if (end)
      *end = (char *)s;
    return 0;
  }
  for (;; p++) {
    unsigned d;
    if (isdigit((unsigned char)*p))
      d = (unsigned)(*p - '0');
    else if (isalpha((unsigned char)*p))
      d = (unsigned)((*p | 32) - 'a' + 10);
    else
      break;
    if (d >= (unsigned)base)
      break;
    any = 1;
    if (v > (ULLONG_MAX - d) / (unsigned)base)
      *overflow = 1;
    else
      v = v * (unsigned)base + d;
  }
  if (end)
    *end = (char *)(any ? p : s);
  return *overflow ? ULLONG_MAX : v;
}

/* Signed result in [min, max] (max = -(min + 1)), saturating with ERANGE. */
static long long to_signed(unsigned long long v, int negative, int overflow, long long max)
{
  unsigned long long limit = negative ? (unsigned long long)max + 1 : (unsigned long long)max;
  if (overflow || v > limit) {
    errno = ERANGE;
    return negative ? -max - 1 : max;
  }
  return negative ? (long long)(0ULL - v) : (long long)v;
}

/* Unsigned result up to max; "-n" is the negation of n (ISO C), ERANGE on overflow. */
static unsigned long long to_unsigned(unsigned long long v, int negative, int overflow,
                                      unsigned long long max)
{
  if (overflow || v > max) {
    errno = ERANGE;
    return max;
  }
  return negative ? (0ULL - v) & max : v;
}

long strtol(const char *s, char **end, int base)
{
  int neg, ovf;
  unsigned long long v = parse(s, end, base, &neg, &ovf);
  return (long)to_signed(v, neg, ovf, LONG_MAX);
}

long long strtoll(const char *s, char **end, int base)
{
  int neg, ovf;
  unsigned long long v = parse(s, end, base, &neg, &ovf);
  return to_signed(v, neg, ovf, LLONG_MAX);
}

unsigned long strtoul(const char *s, char **end, int base)
{
  int neg, ovf;
  unsigned long long v = parse(s, end, base, &neg, &ovf);
  return (unsigned long)to_unsigned(v, neg, ovf, ULONG_MAX);
}

unsigned long long strtoull(const char *s, char **end, int base)
{
  int neg, ovf;
  unsigned long long v = parse(s, end, base, &neg, &ovf);
  return to_unsigned(v, neg, ovf, ULLONG_MAX);
}

int atoi(const char *s)
{
  return (int)strtol(s, 0, 10);
}

long atol(const char *s)
{
  return strtol(s, 0, 10);
}

long long atoll(const char *s)
{
  return strtoll(s, 0, 10);
}
