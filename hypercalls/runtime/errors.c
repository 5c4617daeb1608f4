/* errno and the names of the ABI's error codes. */
#include <errno.h>
#include "internal.h"

int errno;

const char *pvm_strerror(long err)
{
  if (err < 0)
    err = -err;
  switch (err) {
  case 0:
    return "OK";
#define PVM__ERRNAME(NAME, value) \
  case value:                     \
    return #NAME;
    PVM_ERROR_LIST(PVM__ERRNAME)
#undef PVM__ERRNAME
  default:
    return "E?";
  }
}
