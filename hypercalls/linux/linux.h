/* The Linux personality's internals (see entry.S for how a syscall gets here). */
#ifndef PVM_LINUX_INTERNAL_H
#define PVM_LINUX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <pvm.h>
#include "handoff.h"

extern struct pvm_linux_handoff linux_handoff;
extern struct pvm_boot_info *linux_boot;

/* The registers a syscall came with, as entry.S pushed them. */
struct linux_frame {
  uint64_t r9, r8, r10, rdx, rsi, rdi, rcx, r11;
};

long linux_syscall(long nr, struct linux_frame *f);

/* memory.c: brk and anonymous mmap over [heap_start, heap_end) of the boot-info page. */
void linux_memory_init(uint64_t start, uint64_t end);
long linux_brk(uint64_t addr);
long linux_mmap(uint64_t addr, uint64_t len, long prot, long flags, long fd, uint64_t off);
long linux_munmap(uint64_t addr, uint64_t len);
long linux_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, long flags);
long linux_madvise(uint64_t addr, uint64_t len, long advice);

/* random.c: ChaCha20 keyed from the boot page's entropy. */
void linux_random_init(const uint64_t entropy[4]);
void linux_random(void *buf, size_t len);

/* out.c: the console (fds 1 and 2) and the trace line. */
void linux_console_write(const void *buf, size_t len);
void linux_trace_unserved(long nr);
void linux_trace_call_sites(void);

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
size_t strlen(const char *s);

static inline void linux_wrmsr(uint32_t msr, uint64_t value)
{
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}

/* Linux errno values the personality returns (negated). */
#define L_EPERM 1
#define L_ENOENT 2
#define L_EBADF 9
#define L_ENOMEM 12
#define L_EFAULT 14
#define L_ENODEV 19
#define L_EINVAL 22
#define L_ENOTTY 25
#define L_ERANGE 34
#define L_ENOSYS 38

#endif
