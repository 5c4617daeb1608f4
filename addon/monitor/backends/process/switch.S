/* Context switches between the monitor and a guest running in the same process.
 *
 * proc_enter(ctx)          monitor -> guest; returns a PROC_EXIT_* when the guest stops.
 * proc_hypercall_entry     the transport's entry (boot info hypercall_entry): the runtime
 *                        calls it as entry(value, port) instead of the port write, and
 *                        lands here: guest -> monitor with no system call (proc_enter
 *                        returns PROC_EXIT_HYPERCALL, ctx rdi/rsi = value/port).
 * proc_return_to_monitor   where a signal handler sends the CPU (rsp = ctx->mon_rsp,
 *                        eax = exit kind) after saving the guest's whole frame.
 * proc_sig_trampoline      every backend signal handler: puts the monitor's FS/GS base back
 *                        before any C code (TLS, stack protector) runs, and the
 *                        interrupted ones (or what C chose: proc_sig_fs/gs) on the way out.
 *
 * [proc_crit_begin, proc_crit_end) is the entry window: a kick signal landing there has not
 * reached the guest yet and is turned into PROC_EXIT_INTERRUPTED (a restartable sequence),
 * so a kick that arrives just before entering is never lost.
 * proc_in_guest is 1 from the window to the point where proc_hypercall_entry has saved the
 * guest: signals seen while it is 1 (outside the window and the entry) belong to the
 * guest.
 */
#include "context.h"

#define EFL_TF 0x100
#define EFL_DF 0x400
#define EFL_AC 0x40000

  .text

  .globl proc_enter
  .hidden proc_enter
  .type proc_enter,@function
proc_enter:
  push %rbp
  push %rbx
  push %r12
  push %r13
  push %r14
  push %r15
  stmxcsr PROC_CTX_MON_MXCSR(%rdi)
  fnstcw PROC_CTX_MON_FCW(%rdi)
  mov %rsp, PROC_CTX_MON_RSP(%rdi)
  mov %rdi, proc_current(%rip)

  .globl proc_crit_begin
  .hidden proc_crit_begin
proc_crit_begin:
  movb $1, proc_in_guest(%rip)
  cmpb $0, proc_kick_blocked(%rip)  /* a kick came while the monitor ran: do not enter */
  jne .Labort
  /* wrfsbase/wrgsbase cost ~20 ns each here: only when the guest's base differs. */
  cmpb $0, proc_fsgsbase(%rip)
  je 1f
  mov PROC_CTX_FSBASE(%rdi), %rax
  cmp proc_monitor_fs(%rip), %rax
  je 3f
  wrfsbase %rax
3:
  mov PROC_CTX_GSBASE(%rdi), %rax
  cmp proc_monitor_gs(%rip), %rax
  je 1f
  wrgsbase %rax
1:
  cmpl $PROC_RESUME_FRAME, PROC_CTX_RESUME(%rdi)
  je .Lframe
  ldmxcsr PROC_CTX_MXCSR(%rdi)
  fldcw PROC_CTX_FCW(%rdi)
  mov PROC_CTX_RBX(%rdi), %rbx
  mov PROC_CTX_RBP(%rdi), %rbp
  mov PROC_CTX_R12(%rdi), %r12
  mov PROC_CTX_R13(%rdi), %r13
  mov PROC_CTX_R14(%rdi), %r14
  mov PROC_CTX_R15(%rdi), %r15
  mov PROC_CTX_RSP(%rdi), %rsp
  mov PROC_CTX_RAX(%rdi), %rax
  xor %ecx, %ecx      /* nothing of the monitor's leaks into caller-saved registers */
  xor %edx, %edx
  xor %esi, %esi
  xor %r8d, %r8d
  xor %r9d, %r9d
  xor %r10d, %r10d
  mov PROC_CTX_RIP(%rdi), %r11
  mov PROC_CTX_RDI(%rdi), %rdi
  jmp *%r11
.Lframe:
  /* The whole saved frame: rt_sigreturn restores every register, rflags, the xsave
   * area and the signal mask (the guest's run mask) in one go. */
  mov PROC_CTX_FRAME(%rdi), %rsp
  mov $15, %eax       /* __NR_rt_sigreturn */
  syscall
  ud2                 /* a refused frame: the kernel sends SIGSEGV here */
  .globl proc_crit_end
  .hidden proc_crit_end
proc_crit_end:

.Labort:
  movb $0, proc_in_guest(%rip)
  mov $PROC_EXIT_INTERRUPTED, %eax
  jmp .Lpop

  .globl proc_return_to_monitor
  .hidden proc_return_to_monitor
  .type proc_return_to_monitor,@function
proc_return_to_monitor:
  /* rsp = mon_rsp and rflags clean (set by the handler); the FPU holds guest state. */
  fninit
  mov proc_current(%rip), %rcx
  ldmxcsr PROC_CTX_MON_MXCSR(%rcx)
  fldcw PROC_CTX_MON_FCW(%rcx)
.Lpop:
  pop %r15
  pop %r14
  pop %r13
  pop %r12
  pop %rbx
  pop %rbp
  ret
  .size proc_enter, .-proc_enter

  .globl proc_hypercall_entry
  .hidden proc_hypercall_entry
  .type proc_hypercall_entry,@function
proc_hypercall_entry:
  /* Guest stack, guest FS: save what SysV says a callee keeps. A kick landing in
   * [proc_hypercall_entry, proc_hypercall_entry_end) is left pending: the entry completes
   * (it is monitor code) and the next Enter reports it. Saving a frame here instead
   * would resume with the half-written context (found by the kick-storm test). */
  mov proc_current(%rip), %rax
  mov %rbx, PROC_CTX_RBX(%rax)
  mov %rbp, PROC_CTX_RBP(%rax)
  mov %r12, PROC_CTX_R12(%rax)
  mov %r13, PROC_CTX_R13(%rax)
  mov %r14, PROC_CTX_R14(%rax)
  mov %r15, PROC_CTX_R15(%rax)
  mov %rdi, PROC_CTX_RDI(%rax)
  mov %rsi, PROC_CTX_RSI(%rax)
  stmxcsr PROC_CTX_MXCSR(%rax)
  fnstcw PROC_CTX_FCW(%rax)
  mov (%rsp), %rcx
  mov %rcx, PROC_CTX_RIP(%rax)
  lea 8(%rsp), %rcx
  mov %rcx, PROC_CTX_RSP(%rax)
  movl $PROC_RESUME_REGS, PROC_CTX_RESUME(%rax)
  cmpb $0, proc_fsgsbase(%rip)
  je 1f
  rdfsbase %rcx
  mov %rcx, PROC_CTX_FSBASE(%rax)
  rdgsbase %rcx
  mov %rcx, PROC_CTX_GSBASE(%rax)
1:
  movb $0, proc_in_guest(%rip)
  .globl proc_hypercall_entry_end
  .hidden proc_hypercall_entry_end
proc_hypercall_entry_end:
  /* Monitor side from here. */
  mov PROC_CTX_MON_RSP(%rax), %rsp
  cmpb $0, proc_fsgsbase(%rip)
  je 2f
  mov proc_monitor_fs(%rip), %rcx
  cmp PROC_CTX_FSBASE(%rax), %rcx
  je 3f
  wrfsbase %rcx
3:
  mov proc_monitor_gs(%rip), %rcx
  cmp PROC_CTX_GSBASE(%rax), %rcx
  je 2f
  wrgsbase %rcx
2:
  cld
  ldmxcsr PROC_CTX_MON_MXCSR(%rax)
  fldcw PROC_CTX_MON_FCW(%rax)
  pushfq              /* cheap; the popfq only when the guest left AC or TF set */
  testl $(EFL_AC | EFL_TF), (%rsp)
  jnz .Lfixflags
  add $8, %rsp
.Lhcret:
  mov $PROC_EXIT_HYPERCALL, %eax
  jmp .Lpop
.Lfixflags:
  andl $~(EFL_AC | EFL_TF | EFL_DF), (%rsp)
  popfq
  jmp .Lhcret
  .size proc_hypercall_entry, .-proc_hypercall_entry

  .globl proc_sig_trampoline
  .hidden proc_sig_trampoline
  .type proc_sig_trampoline,@function
proc_sig_trampoline:
  /* (sig, info, uc) from the kernel, on the alternate stack; rsp % 16 == 8. */
  cmpb $0, proc_fsgsbase(%rip)
  je 1f
  rdfsbase %rax
  mov %rax, proc_sig_fs(%rip)
  rdgsbase %rax
  mov %rax, proc_sig_gs(%rip)
  mov proc_monitor_fs(%rip), %rax
  wrfsbase %rax
  mov proc_monitor_gs(%rip), %rax
  wrgsbase %rax
1:
  pushfq              /* the kernel clears DF and TF for a handler, not AC */
  andl $~EFL_AC, (%rsp)
  popfq
  sub $8, %rsp
  call proc_on_signal
  add $8, %rsp
  cmpb $0, proc_fsgsbase(%rip)
  je 2f
  mov proc_sig_fs(%rip), %rax
  wrfsbase %rax
  mov proc_sig_gs(%rip), %rax
  wrgsbase %rax
2:
  ret
  .size proc_sig_trampoline, .-proc_sig_trampoline

  .section .note.GNU-stack,"",@progbits
