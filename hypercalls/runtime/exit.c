/* exit(), _Exit(), atexit(), abort(). */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define PVM_ATEXIT_MAX 32

static void (*atexit_fns[PVM_ATEXIT_MAX])(void);
static int atexit_count;

int atexit(void (*fn)(void))
{
  if (atexit_count == PVM_ATEXIT_MAX)
    return -1;
  atexit_fns[atexit_count++] = fn;
  return 0;
}

void exit(int code)
{
  while (atexit_count > 0)
    atexit_fns[--atexit_count]();
  /* No flush needed: the monitor drains the console ring at the EXIT exit. */
  pvm_exit(code & 255);
}

void _Exit(int code)
{
  pvm_exit(code & 255);
}

void __pvm_panic(const char *msg)
{
  pvm_console_write(msg, strlen(msg));
  pvm_console_write("\n", 1);
  pvm_exit(134);
}

void abort(void)
{
  __pvm_panic("abort() called");
}
