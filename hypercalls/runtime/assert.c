/* The failure path of assert(). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

void __pvm_assert_fail(const char *expr, const char *file, int line, const char *func)
{
  printf("assertion failed: %s (%s:%d, %s)\n", expr, file, line, func);
  abort();
}
