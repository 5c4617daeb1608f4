/* Runtime-internal declarations (not installed for guests). */
#ifndef PVM_RUNTIME_INTERNAL_H
#define PVM_RUNTIME_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pvm.h>

/* A formatter output: append `n` bytes at `s`. */
typedef void (*pvm_sink_fn)(void *ctx, const char *s, size_t n);

/* The printf engine: formats `fmt` to `sink`; returns the number of bytes produced. */
int __pvm_vformat(pvm_sink_fn sink, void *ctx, const char *fmt, va_list ap);

/* A sink that writes to the console (ctx unused). */
void __pvm_console_sink(void *ctx, const char *s, size_t n);

/* Set up the heap over [start, end) (called once by crt0). */
void __pvm_heap_init(uint64_t start, uint64_t end);

/* Print a message straight to the console and abort: for runtime-detected corruption. */
__attribute__((noreturn)) void __pvm_panic(const char *msg);

#endif
