/*
 * string.h — memory and string functions of the pVM guest runtime (a libc subset).
 * Semantics are those of ISO C; only the functions declared here exist.
 */
#ifndef PVM_STRING_H
#define PVM_STRING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Copy `n` bytes from `src` to `dst` (the areas must not overlap); returns `dst`. */
void *memcpy(void *__restrict dst, const void *__restrict src, size_t n);
/** Copy `n` bytes from `src` to `dst`; the areas may overlap. Returns `dst`. */
void *memmove(void *dst, const void *src, size_t n);
/** Fill `n` bytes at `dst` with the byte `c`; returns `dst`. */
void *memset(void *dst, int c, size_t n);
/** Compare `n` bytes as unsigned chars: <0, 0 or >0. */
int memcmp(const void *a, const void *b, size_t n);
/** First occurrence of byte `c` in the `n` bytes at `s`, or NULL. */
void *memchr(const void *s, int c, size_t n);

/** Length of the NUL-terminated string `s`. */
size_t strlen(const char *s);
/** Length of `s`, but at most `max` (looks at no more than `max` bytes). */
size_t strnlen(const char *s, size_t max);
/** Compare two strings as unsigned chars: <0, 0 or >0. */
int strcmp(const char *a, const char *b);
/** Compare at most `n` characters of two strings. */
int strncmp(const char *a, const char *b, size_t n);
/** Copy `src` (with its NUL) to `dst`; returns `dst`. */
char *strcpy(char *__restrict dst, const char *__restrict src);
/**
 * Copy at most `n` characters of `src` to `dst`, padding with NULs up to `n`
 * (no NUL is written if `src` is `n` characters or longer). Returns `dst`.
 */
char *strncpy(char *__restrict dst, const char *__restrict src, size_t n);
/** Append `src` to the string `dst`; returns `dst`. */
char *strcat(char *__restrict dst, const char *__restrict src);
/** Append at most `n` characters of `src` to `dst`, then a NUL; returns `dst`. */
char *strncat(char *__restrict dst, const char *__restrict src, size_t n);
/** First occurrence of `c` in `s` (the NUL counts as part of the string), or NULL. */
char *strchr(const char *s, int c);
/** Last occurrence of `c` in `s` (the NUL counts as part of the string), or NULL. */
char *strrchr(const char *s, int c);
/** First occurrence of `needle` in `haystack` (`haystack` if `needle` is empty), or NULL. */
char *strstr(const char *haystack, const char *needle);
/** Length of the initial run of `s` made only of bytes in `accept`. */
size_t strspn(const char *s, const char *accept);
/** Length of the initial run of `s` made of bytes not in `reject`. */
size_t strcspn(const char *s, const char *reject);
/** A malloc'ed copy of `s`, or NULL when out of memory. */
char *strdup(const char *s);
/** A malloc'ed copy of at most `n` characters of `s` plus a NUL, or NULL. */
char *strndup(const char *s, size_t n);

/*
 * The runtime is compiled -ffreestanding (which turns off GCC's built-in knowledge of
 * these functions); route the common ones through the builtins so that small constant
 * sizes are inlined. The runtime's own definitions are written as `(memcpy)(...)`,
 * which a function-like macro does not touch.
 */
#ifndef PVM_NO_BUILTIN_STRING
#define memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define memmove(d, s, n) __builtin_memmove((d), (s), (n))
#define memset(d, c, n) __builtin_memset((d), (c), (n))
#define memcmp(a, b, n) __builtin_memcmp((a), (b), (n))
#define strlen(s) __builtin_strlen((s))
#endif

#ifdef __cplusplus
}
#endif

#endif /* PVM_STRING_H */
