/*
 * memcpy, memmove, memset, memcmp, memchr.
 * The names are parenthesised so string.h's builtin macros leave them alone; the file is
 * compiled with -fno-tree-loop-distribute-patterns so GCC does not turn these loops
 * back into calls to themselves. `rep movsb/stosb` are fast on current x86 CPUs (ERMS)
 * and run natively in the guest.
 */
#include <stdint.h>
#include <string.h>

void *(memcpy)(void *__restrict dst, const void *__restrict src, size_t n)
{
  void *ret = dst;
  __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
  return ret;
}

void *(memmove)(void *dst, const void *src, size_t n)
{
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d <= s || d >= s + n)
    return (memcpy)(dst, src, n); /* a forward copy is safe */
  /* Overlap with dst above src: copy backwards, 8 bytes at a time. */
  d += n;
  s += n;
  while (n >= 8) {
    uint64_t w;
    d -= 8;
    s -= 8;
    __builtin_memcpy(&w, s, 8);
    __builtin_memcpy(d, &w, 8);
    n -= 8;
  }
  while (n--)
    *--d = *--s;
  return dst;
}

void *(memset)(void *dst, int c, size_t n)
{
  void *ret = dst;
  __asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
  return ret;
}

int (memcmp)(const void *a, const void *b, size_t n)
{
  const unsigned char *p = a, *q = b;
  for (; n; n--, p++, q++)
    if (*p != *q)
      return *p - *q;
  return 0;
}

void *memchr(const void *s, int c, size_t n)
{
  const unsigned char *p = s;
  for (; n; n--, p++)
    if (*p == (unsigned char)c)
      return (void *)p;
  return 0;
}
