/*
 * console: prints argv[1] lines (default 10000) of
 *   "line <i> the quick brown fox jumps over the lazy dog 0123456789"
 * so that the 64 KiB console ring wraps many times; exit 0.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
  long n = argc > 1 ? strtol(argv[1], 0, 10) : 10000;
  for (long i = 0; i < n; i++)
    printf("line %ld the quick brown fox jumps over the lazy dog 0123456789\n", i);
  return 0;
}
