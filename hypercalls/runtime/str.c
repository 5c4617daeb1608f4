/* The str* functions of string.h. */
#include <stdlib.h>
#include <string.h>

size_t (strlen)(const char *s)
{
  const char *p = s;
  while (*p)
    p++;
  return (size_t)(p - s);
}

size_t strnlen(const char *s, size_t max)
{
  size_t n = 0;
  while (n < max && s[n])
    n++;
  return n;
}

int strcmp(const char *a, const char *b)
{
  const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
  while (*p && *p == *q) {
    p++;
    q++;
  }
  return *p - *q;
}

int strncmp(const char *a, const char *b, size_t n)
{
  const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
  for (; n; n--, p++, q++) {
    if (*p != *q)
      return *p - *q;
    if (!*p)
      break;
  }
  return 0;
}

char *strcpy(char *__restrict dst, const char *__restrict src)
{
  char *d = dst;
  while ((*d++ = *src++))
    ;
  return dst;
}

char *strncpy(char *__restrict dst, const char *__restrict src, size_t n)
{
  size_t i = 0;
  for (; i < n && src[i]; i++)
    dst[i] = src[i];
  for (; i < n; i++)
    dst[i] = '\0';
  return dst;
}

char *strcat(char *__restrict dst, const char *__restrict src)
{
  strcpy(dst + strlen(dst), src);
  return dst;
}

char *strncat(char *__restrict dst, const char *__restrict src, size_t n)
{
  char *d = dst + strlen(dst);
  while (n-- && *src)
    *d++ = *src++;
  *d = '\0';
  return dst;
}

char *strchr(const char *s, int c)
{
  for (;; s++) {
    if (*s == (char)c)
      return (char *)s;
    if (!*s)
      return 0;
  }
}

char *strrchr(const char *s, int c)
{
  const char *last = 0;
  for (;; s++) {
    if (*s == (char)c)
      last = s;
    if (!*s)
      return (char *)last;
  }
}

char *strstr(const char *haystack, const char *needle)
{
  size_t n = strlen(needle);
  if (n == 0)
    return (char *)haystack;
  for (; (haystack = strchr(haystack, *needle)); haystack++)
    if (strncmp(haystack, needle, n) == 0)
      return (char *)haystack;
  return 0;
}

size_t strspn(const char *s, const char *accept)
{
  size_t n = 0;
  while (s[n] && strchr(accept, s[n]))
    n++;
  return n;
}

size_t strcspn(const char *s, const char *reject)
{
  size_t n = 0;
  while (s[n] && !strchr(reject, s[n]))
    n++;
  return n;
}

char *strndup(const char *s, size_t n)
{
  size_t len = strnlen(s, n);
  char *p = malloc(len + 1);
  if (p) {
    memcpy(p, s, len);
    p[len] = '\0';
  }
  return p;
}

char *strdup(const char *s)
{
  return strndup(s, (size_t)-1);
}
