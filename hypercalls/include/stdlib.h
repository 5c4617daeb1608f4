/*
 * stdlib.h — memory allocation, process exit and number parsing (a libc subset).
 *
 * The heap is the free RAM between the image and the stack, [heap_start, heap_end)
 * from the boot-info page. Blocks are 16-byte aligned; freed blocks are coalesced with
 * their neighbours and reused. Memory the heap has never handed out is still the zero
 * RAM the monitor gave the pVM, and calloc() does not touch it again.
 */
#ifndef PVM_STDLIB_H
#define PVM_STDLIB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

/** Allocate `size` bytes (16-byte aligned); NULL (errno = ENOMEM) when out of memory. */
void *malloc(size_t size);
/** Free a block from malloc/calloc/realloc; NULL is ignored. A bad pointer aborts. */
void free(void *p);
/** Allocate `n` * `size` zeroed bytes; NULL on overflow or when out of memory. */
void *calloc(size_t n, size_t size);
/**
 * Resize the block `p` to `size` bytes, in place when possible; the contents up to the
 * smaller size are kept. realloc(NULL, n) = malloc(n); realloc(p, 0) frees p and
 * returns NULL. On failure returns NULL and `p` is untouched.
 */
void *realloc(void *p, size_t size);
/** Usable size of the block `p` (at least what was asked for). */
size_t malloc_usable_size(void *p);

/** Print "abort() called" and end the pVM with exit code 134 (as SIGABRT would). */
__attribute__((noreturn)) void abort(void);
/** Run the atexit() handlers (last registered first), then end the pVM with `code & 255`. */
__attribute__((noreturn)) void exit(int code);
/** End the pVM with `code & 255` at once, without atexit() handlers. */
__attribute__((noreturn)) void _Exit(int code);
/** Register `fn` to run at exit() (up to 32 handlers); returns 0, or -1 when full. */
int atexit(void (*fn)(void));

/** Decimal string to int (leading spaces and a sign allowed; no error reporting). */
int atoi(const char *s);
/** Decimal string to long. */
long atol(const char *s);
/** Decimal string to long long. */
long long atoll(const char *s);
/**
 * Parse an integer in base `base` (2..36, or 0: 0x.. hex, 0.. octal, else decimal).
 * `*end` (if `end` is not NULL) gets the first unparsed character. On overflow returns
 * LONG_MAX/LONG_MIN and sets errno = ERANGE.
 */
long strtol(const char *s, char **end, int base);
/** strtol() for unsigned long ("-n" is negated, as in ISO C); ULONG_MAX on overflow. */
unsigned long strtoul(const char *s, char **end, int base);
/** strtol() for long long. */
long long strtoll(const char *s, char **end, int base);
/** strtoul() for unsigned long long. */
unsigned long long strtoull(const char *s, char **end, int base);

/** Absolute value of an int. */
int abs(int x);
/** Absolute value of a long. */
long labs(long x);
/** Absolute value of a long long. */
long long llabs(long long x);

#define RAND_MAX 0x7fffffff
/** Pseudo-random number in [0, RAND_MAX] (not for secrets): seeded from the boot-info
 * page's entropy, reseeded in each fork child (unique clones); srand() makes it repeatable. */
int rand(void);
/** Seed rand(). */
void srand(unsigned seed);

/** Sort `n` elements of `size` bytes at `base` with `cmp` (not stable). */
void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

#ifdef __cplusplus
}
#endif

#endif /* PVM_STDLIB_H */
