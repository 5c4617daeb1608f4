/*
 * stdio.h — formatted output to the pVM console (a libc subset).
 *
 * There is one output stream, the console ring: stdout and stderr both write to it.
 * Output is buffered in the ring in guest memory and reaches the host when the ring is
 * full, at fflush(), or at the pVM's next exit of any kind (hypercall, exit, fault), so
 * it is never lost. There is no input and no files.
 *
 * Formats: %d %i %u %x %X %o %p %s %c %f %F %% with the flags '-', '0', '+', ' ', '#',
 * a width and a precision (numbers or '*'), and the length modifiers hh h l ll z j t
 * (L for %f). %f handles any finite double, rounding the last digit half-up.
 */
#ifndef PVM_STDIO_H
#define PVM_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EOF (-1)

/** An output stream (only the console exists). */
typedef struct pvm_file FILE;
/** The console, as standard output. */
extern FILE *const stdout;
/** The console, as standard error (same ring as stdout, so ordering is kept). */
extern FILE *const stderr;
#define stdout stdout
#define stderr stderr

#define PVM__PRINTF(f, a) __attribute__((format(printf, f, a)))

/** Formatted output to the console; returns the number of characters written. */
int printf(const char *fmt, ...) PVM__PRINTF(1, 2);
/** printf() with a va_list. */
int vprintf(const char *fmt, va_list ap) PVM__PRINTF(1, 0);
/** Formatted output to a stream (the console). */
int fprintf(FILE *f, const char *fmt, ...) PVM__PRINTF(2, 3);
/** fprintf() with a va_list. */
int vfprintf(FILE *f, const char *fmt, va_list ap) PVM__PRINTF(2, 0);
/**
 * Format into `buf` (at most `size` bytes, always NUL-terminated when `size` > 0).
 * Returns the length the full result would have (so a result >= `size` means it was
 * cut); `buf` may be NULL when `size` is 0.
 */
int snprintf(char *buf, size_t size, const char *fmt, ...) PVM__PRINTF(3, 4);
/** snprintf() with a va_list. */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) PVM__PRINTF(3, 0);
/** sprintf(): snprintf() without a bound; prefer snprintf(). */
int sprintf(char *buf, const char *fmt, ...) PVM__PRINTF(2, 3);

/** Write `s` and a newline to the console; returns a non-negative number. */
int puts(const char *s);
/** Write the character `c` to the console; returns `c` as an unsigned char. */
int putchar(int c);
/** Write the string `s` (no newline) to a stream; returns a non-negative number. */
int fputs(const char *s, FILE *f);
/** Write the character `c` to a stream; returns `c` as an unsigned char. */
int fputc(int c, FILE *f);
/** Same as fputc(). */
int putc(int c, FILE *f);
/** Write `n` items of `size` bytes to a stream; returns the number of items written. */
size_t fwrite(const void *p, size_t size, size_t n, FILE *f);
/**
 * Hand everything written so far to the host now (one CONSOLE_FLUSH exit if the ring
 * holds undrained bytes, none otherwise). `f` may be NULL (all streams). Returns 0.
 */
int fflush(FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* PVM_STDIO_H */
