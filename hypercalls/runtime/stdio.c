/* Console output: printf(), puts(), putchar() and the FILE-flavoured variants. */
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* There is one stream, the console; the two FILE objects only give stdout/stderr an
 * identity. */
struct pvm_file {
  int fd;
};
static struct pvm_file console_out = { 1 }, console_err = { 2 };
FILE *const stdout = &console_out;
FILE *const stderr = &console_err;

int vprintf(const char *fmt, va_list ap)
{
  return __pvm_vformat(__pvm_console_sink, 0, fmt, ap);
}

int printf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
  (void)f;
  return vprintf(fmt, ap);
}

int fprintf(FILE *f, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vfprintf(f, fmt, ap);
  va_end(ap);
  return n;
}

int fputs(const char *s, FILE *f)
{
  (void)f;
  size_t n = strlen(s);
  return pvm_console_write(s, n) == n ? (int)n : EOF;
}

int puts(const char *s)
{
  if (fputs(s, stdout) == EOF)
    return EOF;
  return pvm_console_write("\n", 1) == 1 ? 1 : EOF;
}

int fputc(int c, FILE *f)
{
  (void)f;
  unsigned char ch = (unsigned char)c;
  return pvm_console_write(&ch, 1) == 1 ? ch : EOF;
}

int putc(int c, FILE *f)
{
  return fputc(c, f);
}

int putchar(int c)
{
  return fputc(c, stdout);
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
  (void)f;
  if (size == 0 || n == 0)
    return 0;
  return pvm_console_write(p, size * n) / size;
}

int fflush(FILE *f)
{
  (void)f;
  pvm_console_flush();
  return 0;
}
