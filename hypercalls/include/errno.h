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

#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define E2BIG 7
#define ENOEXEC 8
#define ECHILD 10
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EINVAL 22
#define EPIPE 32
#define EDOM 33
#define ERANGE 34
#define ENOSYS 38
#define EMSGSIZE 90
#define ETIMEDOUT 110

#ifdef __cplusplus
}
#endif

#endif /* PVM_ERRNO_H */
