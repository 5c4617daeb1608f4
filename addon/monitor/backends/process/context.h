/* The guest context of the process backend: what switch.S and the C++ side share.
 *
 * Two ways a guest is stopped, two ways it is resumed:
 *  - at a hypercall (an ordinary call into proc_hypercall_entry): only what SysV says a
 *    callee keeps is saved (rbx rbp r12-r15, rsp, return address, MXCSR, x87 CW, FS/GS
 *    base) plus the call's two arguments; resume = load those, jump to the return address.
 *  - by a signal (a kick or a fault): the kernel's whole signal frame (all GPRs, rip,
 *    rflags, the xsave area) is copied here; resume = rt_sigreturn on that copy.
 * The offsets below are the ABI between the asm and C++ (static_assert'ed in
 * guest_signals.cc). C, so that the assembler can include it.
 */
#ifndef PVM_PROCESS_CONTEXT_H
#define PVM_PROCESS_CONTEXT_H

#define PROC_CTX_RBX 0
#define PROC_CTX_RBP 8
#define PROC_CTX_R12 16
#define PROC_CTX_R13 24
#define PROC_CTX_R14 32
#define PROC_CTX_R15 40
#define PROC_CTX_RSP 48
#define PROC_CTX_RIP 56
#define PROC_CTX_RDI 64
#define PROC_CTX_RSI 72
#define PROC_CTX_RAX 80
#define PROC_CTX_FSBASE 88
#define PROC_CTX_GSBASE 96
#define PROC_CTX_MXCSR 104
#define PROC_CTX_FCW 108
#define PROC_CTX_MON_RSP 112
#define PROC_CTX_MON_MXCSR 120
#define PROC_CTX_MON_FCW 124
#define PROC_CTX_RESUME 128
#define PROC_CTX_FRAME 136

/* resume kinds */
#define PROC_RESUME_REGS 0  /* first entry, or after a hypercall */
#define PROC_RESUME_FRAME 1 /* after a kick or a fault: rt_sigreturn on the saved frame */

/* what proc_enter returns */
#define PROC_EXIT_HYPERCALL 1   /* rdi = the value, rsi = the port the guest called with */
#define PROC_EXIT_INTERRUPTED 2 /* a kick signal; it is pending (and blocked) again */
#define PROC_EXIT_EXCEPTION 3   /* a guest fault (guest_signals.h LastFault) */

#ifndef __ASSEMBLER__
#include <stdint.h>
#include <ucontext.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for the kernel's xsave area (AVX-512 needs ~2.7 KiB; AMX is never enabled). */
#define PROC_FPSTATE_MAX 8192

struct proc_ctx {
  uint64_t rbx, rbp, r12, r13, r14, r15;
  uint64_t rsp, rip, rdi, rsi, rax;
  uint64_t fsbase, gsbase;
  uint32_t mxcsr;
  uint16_t fcw, pad0;
  uint64_t mon_rsp;
  uint32_t mon_mxcsr;
  uint16_t mon_fcw, pad1;
  uint32_t resume;
  uint32_t pad2;
  /* PROC_RESUME_FRAME: the address of `uc` below, what rt_sigreturn is given in rsp. */
  uint64_t frame;
  uint64_t pretcode; /* rt_sigreturn reads the frame at rsp - 8: keep this just before uc */
  ucontext_t uc;     /* the kernel's layout up to uc_sigmask (glibc's is a superset) */
  uint8_t fpstate[PROC_FPSTATE_MAX] __attribute__((aligned(64)));
};

#ifdef __cplusplus
}
#endif
#endif /* __ASSEMBLER__ */
#endif
