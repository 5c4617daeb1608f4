/*
 * pvm.h — the pVM guest API: hypercalls, boot information, console, heap statistics.
 *
 * A pVM guest is a static ELF64 image linked with the runtime in hypercalls/runtime.
 * The monitor starts it at `_start` (crt0) with the boot-info page; crt0 calls
 * main(argc, argv) and passes its return value to exit().
 *
 * Every hypercall is an exit to the monitor, which is expensive (~25 µs on kvm_pvm
 * hosts): prefer the functions here that read the boot-info page over hypercalls, and
 * let the console ring batch output (it is flushed only when full, and the monitor
 * drains it at every exit anyway, so nothing is lost when the guest exits or faults).
 *
 * All ABI numbers (hypercall numbers, error codes, memory layout, the boot-info struct)
 * come from <pvm/abi.h>, generated from hypercalls/abi.json.
 */
#ifndef PVM_H
#define PVM_H

#include <stddef.h>
#include <stdint.h>
#include <pvm/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- generic hypercalls ------------------------------------------------------------
 * `out %eax, $PVM_HC_PORT` with eax = number, arguments in rdi, rsi, rdx, rcx, r8,
 * result in rax (negative = -PVM_Exxx). The monitor may read and write guest memory
 * named by the arguments, so every hypercall is a compiler memory barrier. The
 * registers a SysV call may clobber are treated as clobbered, so the monitor is free to
 * return extra values in them later without breaking compiled guests.
 */
#define PVM__HC_CLOBBERS "r9", "r10", "r11", "memory", "cc"

/** Hypercall `nr` with no argument; returns rax (negative = -PVM_Exxx). */
static inline long pvm_hypercall0(long nr)
{
  long ret = nr;
  __asm__ volatile("outl %%eax, %[port]"
                   : "+a"(ret)
                   : [port] "N"(PVM_HC_PORT)
                   : "rdi", "rsi", "rdx", "rcx", "r8", PVM__HC_CLOBBERS);
  return ret;
}

/** Hypercall `nr` with one argument (rdi); returns rax. */
static inline long pvm_hypercall1(long nr, long a0)
{
  long ret = nr;
  __asm__ volatile("outl %%eax, %[port]"
                   : "+a"(ret), "+D"(a0)
                   : [port] "N"(PVM_HC_PORT)
                   : "rsi", "rdx", "rcx", "r8", PVM__HC_CLOBBERS);
  return ret;
}

/** Hypercall `nr` with two arguments (rdi, rsi); returns rax. */
static inline long pvm_hypercall2(long nr, long a0, long a1)
{
  long ret = nr;
  __asm__ volatile("outl %%eax, %[port]"
                   : "+a"(ret), "+D"(a0), "+S"(a1)
                   : [port] "N"(PVM_HC_PORT)
                   : "rdx", "rcx", "r8", PVM__HC_CLOBBERS);
  return ret;
}

/** Hypercall `nr` with three arguments (rdi, rsi, rdx); returns rax. */
static inline long pvm_hypercall3(long nr, long a0, long a1, long a2)
{
  long ret = nr;
  __asm__ volatile("outl %%eax, %[port]"
                   : "+a"(ret), "+D"(a0), "+S"(a1), "+d"(a2)
                   : [port] "N"(PVM_HC_PORT)
                   : "rcx", "r8", PVM__HC_CLOBBERS);
  return ret;
}

/** Hypercall `nr` with four arguments (rdi, rsi, rdx, rcx); returns rax. */
static inline long pvm_hypercall4(long nr, long a0, long a1, long a2, long a3)
{
  long ret = nr;
  __asm__ volatile("outl %%eax, %[port]"
                   : "+a"(ret), "+D"(a0), "+S"(a1), "+d"(a2), "+c"(a3)
                   : [port] "N"(PVM_HC_PORT)
                   : "r8", PVM__HC_CLOBBERS);
  return ret;
}

/** Hypercall `nr` with five arguments (rdi, rsi, rdx, rcx, r8); returns rax. */
static inline long pvm_hypercall5(long nr, long a0, long a1, long a2, long a3, long a4)
{
  long ret = nr;
  register long r8 __asm__("r8") = a4;
  __asm__ volatile("outl %%eax, %[port]"
                   : "+a"(ret), "+D"(a0), "+S"(a1), "+d"(a2), "+c"(a3), "+r"(r8)
                   : [port] "N"(PVM_HC_PORT)
                   : PVM__HC_CLOBBERS);
  return ret;
}

/* ---- raw wrappers, one per hypercall in abi.json ------------------------------------
 * For every entry X(NAME, nr, nargs) of PVM_HYPERCALL_LIST this defines
 *   static inline long pvm_hc_NAME(long a0, ...);   (nargs arguments)
 * e.g. pvm_hc_TIME(), pvm_hc_EXIT(code). A hypercall added to abi.json gets its raw
 * wrapper here automatically; add a typed, documented wrapper below when it is useful.
 */
#define PVM__HC_PARAMS_0 void
#define PVM__HC_PARAMS_1 long a0
#define PVM__HC_PARAMS_2 long a0, long a1
#define PVM__HC_PARAMS_3 long a0, long a1, long a2
#define PVM__HC_PARAMS_4 long a0, long a1, long a2, long a3
#define PVM__HC_PARAMS_5 long a0, long a1, long a2, long a3, long a4
#define PVM__HC_CALL_0(nr) pvm_hypercall0(nr)
#define PVM__HC_CALL_1(nr) pvm_hypercall1(nr, a0)
#define PVM__HC_CALL_2(nr) pvm_hypercall2(nr, a0, a1)
#define PVM__HC_CALL_3(nr) pvm_hypercall3(nr, a0, a1, a2)
#define PVM__HC_CALL_4(nr) pvm_hypercall4(nr, a0, a1, a2, a3)
#define PVM__HC_CALL_5(nr) pvm_hypercall5(nr, a0, a1, a2, a3, a4)
#define PVM__HC_RAW_WRAPPER(NAME, nr, nargs) \
  static inline long pvm_hc_##NAME(PVM__HC_PARAMS_##nargs) { return PVM__HC_CALL_##nargs(nr); }
PVM_HYPERCALL_LIST(PVM__HC_RAW_WRAPPER)
#undef PVM__HC_RAW_WRAPPER

/* ---- boot information ------------------------------------------------------------- */

/** The boot-info page (set by crt0 from the pointer the monitor passed in rdi). */
extern struct pvm_boot_info *__pvm_boot;

/**
 * The boot-info page the monitor filled in: argc/argv, ids, RAM size, heap bounds,
 * stack top, console ring. Read-only for guest code (the console fields belong to the
 * runtime).
 */
static inline const struct pvm_boot_info *pvm_boot_info(void) { return __pvm_boot; }

/** This pVM's id (from the boot-info page: no exit). */
static inline uint64_t pvm_id(void) { return __pvm_boot->id; }

/** The parent pVM's id, 0 if the pVM was started by the host (boot-info page: no exit). */
static inline uint64_t pvm_parent_id(void) { return __pvm_boot->parent_id; }

/** Size of this pVM's RAM in bytes (boot-info page). */
static inline uint64_t pvm_ram_size(void) { return __pvm_boot->ram_size; }

/* ---- named hypercalls ------------------------------------------------------------- */

/**
 * End this pVM with exit code `code` (0..255; the monitor decides what it does with
 * other values). Output already written to the console is not lost: the monitor drains
 * the ring at this exit. Does not run atexit handlers (use exit() for that).
 */
__attribute__((noreturn)) static inline void pvm_exit(int code)
{
  pvm_hypercall1(PVM_HC_EXIT, code);
  __builtin_trap(); /* EXIT never returns; if it did, fault rather than run on. */
}

/** Host CLOCK_MONOTONIC in nanoseconds (one TIME hypercall: one exit). */
static inline uint64_t pvm_time_ns(void) { return (uint64_t)pvm_hypercall0(PVM_HC_TIME); }

/** This pVM's id asked from the monitor (GETID hypercall: one exit; pvm_id() is free). */
static inline uint64_t pvm_getid(void) { return (uint64_t)pvm_hypercall0(PVM_HC_GETID); }

/* ---- console ---------------------------------------------------------------------- */

/**
 * Append `len` bytes to the console ring. No exit unless the ring is full, in which
 * case the runtime makes a CONSOLE_FLUSH hypercall and carries on. Returns the number
 * of bytes written (less than `len` only if the monitor stopped draining the ring).
 */
size_t pvm_console_write(const void *buf, size_t len);

/**
 * Make everything written so far visible to the host now (CONSOLE_FLUSH hypercall).
 * Costs one exit, and only if the ring holds undrained bytes. Returns 0 or -PVM_Exxx.
 */
long pvm_console_flush(void);

/** Number of console bytes written but not yet drained by the monitor. */
uint64_t pvm_console_pending(void);

/* ---- errors and heap -------------------------------------------------------------- */

/**
 * Name of a hypercall error, e.g. "ENOSYS" for -PVM_ENOSYS or PVM_ENOSYS (the sign is
 * ignored); "E?" for an unknown value, "OK" for 0.
 */
const char *pvm_strerror(long err);

/** Heap statistics (see pvm_heap_stats()). */
struct pvm_heap_stats {
  uint64_t heap_start;   /**< first byte of the heap (boot_info->heap_start, aligned) */
  uint64_t heap_end;     /**< end of the heap (boot_info->heap_end) */
  uint64_t in_use_bytes; /**< bytes in allocated blocks, headers included */
  uint64_t in_use_count; /**< number of allocated blocks */
  uint64_t free_bytes;   /**< bytes in freed blocks waiting for reuse (not the top) */
  uint64_t top_bytes;    /**< never-allocated (or returned) bytes above the last block */
  uint64_t high_water;   /**< highest heap address ever handed out; RAM above is untouched */
};

/** Fill `st` with the current heap statistics. */
void pvm_heap_stats(struct pvm_heap_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVM_H */
