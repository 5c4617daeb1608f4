/*
 * assert.h — assert(expr): when `expr` is false, print
 *   "assertion failed: <expr> (<file>:<line>, <function>)"
 * on the console and abort() (exit code 134). Defining NDEBUG turns it off.
 * Like ISO C's assert.h, this header may be included again after changing NDEBUG.
 */
#undef assert

#ifdef NDEBUG
#define assert(e) ((void)0)
#else
#define assert(e) ((e) ? (void)0 : __pvm_assert_fail(#e, __FILE__, __LINE__, __func__))
#endif

#ifndef PVM_ASSERT_H
#define PVM_ASSERT_H

#ifdef __cplusplus
extern "C" {
#endif

/** Report a failed assertion and abort(); used by assert(). */
__attribute__((noreturn)) void __pvm_assert_fail(const char *expr, const char *file, int line,
                                                 const char *func);

#ifdef __cplusplus
}
#endif

#if !defined(__cplusplus) && !defined(static_assert)
#define static_assert _Static_assert
#endif

#endif /* PVM_ASSERT_H */
