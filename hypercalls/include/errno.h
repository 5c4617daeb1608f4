/*
 * errno.h — the runtime's `errno` (set by strtol() family and malloc()). The values
 * that exist in the hypercall ABI are the same numbers (PVM_Exxx in <pvm/abi.h>), so a
 * hypercall result -r can be stored in errno as is.
 */
#ifndef PVM_ERRNO_H
#define PVM_ERRNO_H

#ifdef __cplusplus
extern "C" {
#endif

/** The last error number set by a runtime function (never cleared by the runtime). */
extern int errno;

/* The ABI's error numbers (EPERM, EAGAIN, EBADF, ...), generated from abi.json. */
#include <pvm/errno_values.h>
/* libc-only ones, outside the hypercall ABI. */
#define EDOM 33
#define ERANGE 34

#ifdef __cplusplus
}
#endif

#endif /* PVM_ERRNO_H */
