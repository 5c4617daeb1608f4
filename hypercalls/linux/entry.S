/*
 * The Linux personality's entry points.
 *
 * The handoff header (handoff.h) comes first, at PVM_LINUX_RT_GPA. The monitor enters
 * linux_rt_start with rdi = the boot-info page. On kvm the guest runs in long mode at
 * (virtual) CPL0 with EFER.SCE set; linux_start() points LSTAR at linux_syscall_entry,
 * so a program's `syscall` lands here without leaving the guest. There is no privilege
 * change to undo, so the way back is popfq + jmp *%rcx (sysretq would drop to CPL3).
 * On process the guest runs in user mode: a `syscall` is trapped by the monitor's
 * seccomp filter and its SIGSYS handler resumes the program here instead, with rcx and
 * r11 as `syscall` left them (handoff syscall_entry); the way back is the same.
 */
        .section .text.head, "ax", @progbits
        .globl linux_handoff
linux_handoff:
        .long 0x78756e6c                /* magic: PVM_LINUX_MAGIC */
        .long 96                        /* header_size */
        .quad linux_rt_start            /* start */
        .quad __rt_end - linux_handoff  /* mem_size */
        .fill 40, 1, 0                  /* entry, phdr, phnum, realtime_offset_ns, flags, call_sites */
        .quad linux_call_entry          /* call_entry */
        .fill 16, 1, 0                  /* files_gpa, files_size */
        .quad linux_syscall_entry       /* syscall_entry */

        .text
        .globl linux_rt_start
linux_rt_start:
        lea     kernel_stack_top(%rip), %rsp
        xor     %ebp, %ebp
        call    linux_start             /* returns the program's stack pointer */
        mov     %rax, %rsp
        mov     linux_handoff+24(%rip), %rax  /* handoff.entry */
        /* What Linux gives at entry: rdx = 0 (no rtld_fini), the rest zero. */
        xor     %edx, %edx
        xor     %ecx, %ecx
        xor     %ebx, %ebx
        xor     %esi, %esi
        xor     %edi, %edi
        xor     %r8d, %r8d
        xor     %r9d, %r9d
        xor     %r10d, %r10d
        xor     %r11d, %r11d
        xor     %r12d, %r12d
        xor     %r13d, %r13d
        xor     %r14d, %r14d
        xor     %r15d, %r15d
        jmp     *%rax

/* syscall: rax = number, rdi rsi rdx r10 r8 r9 = arguments, rcx = return rip,
 * r11 = rflags. Linux keeps every register but rax, rcx and r11, and never touches the
 * program's stack (it may hold a red zone): so switch to our own stack first. One vCPU,
 * and signal handlers run on the program's stack: one stack is enough.
 *
 * The frame (struct linux_frame) holds the whole user context, so signal delivery
 * (signal.c) can save it in a handler's frame and rt_sigreturn can replace it. Its top is
 * an iretq frame (rip, cs, rflags, rsp, ss): after rt_sigreturn every register, rcx and
 * r11 included, comes back through iretq (linux_full_restore); otherwise the fast way,
 * with rcx = rip and r11 = rflags as after a real syscall. */
        .globl linux_syscall_entry
linux_syscall_entry:
        mov     %rsp, user_rsp(%rip)
        lea     kernel_stack_top(%rip), %rsp
        pushq   $0                      /* ss (filled in for iretq) */
        pushq   user_rsp(%rip)          /* rsp */
        push    %r11                    /* rflags */
        pushq   $0                      /* cs (filled in for iretq) */
        push    %rcx                    /* rip */
        push    %r11
        push    %rcx
        push    %rdi
        push    %rsi
        push    %rdx
        push    %r10
        push    %r8
        push    %r9
        push    %rax
        push    %rbx
        push    %rbp
        push    %r12
        push    %r13
        push    %r14
        push    %r15                    /* 20 slots: rsp 16-byte aligned at the call */
        cld
        mov     %rax, %rdi              /* nr */
        mov     %rsp, %rsi              /* struct linux_frame * */
        call    linux_syscall           /* leaves the result in the frame's rax */
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbp
        pop     %rbx
        pop     %rax
        pop     %r9
        pop     %r8
        pop     %r10
        pop     %rdx
        pop     %rsi
        pop     %rdi
        cmpb    $0, linux_full_restore(%rip)
        jne     1f
        mov     16(%rsp), %rcx          /* rip */
        mov     32(%rsp), %r11          /* rflags */
        push    %r11
        popfq
        mov     40(%rsp), %rsp          /* the program's rsp (a handler's frame after delivery) */
        jmp     *%rcx
1:      movb    $0, linux_full_restore(%rip)
        pop     %rcx
        pop     %r11
        movw    %cs, 8(%rsp)
        movw    %ss, 32(%rsp)
        iretq

/* A rewritten syscall site: `call *%rax` jumped to VA rax (< 512) in the sled at page 0,
 * which slid into a jump here (addon/monitor/linux_rewrite.h). The call pushed the return
 * address on the program's stack: make what `syscall` would have left (rcx = the next
 * instruction, r11 = rflags, rsp as it was; both registers are the syscall's to clobber)
 * and take the same path. pushfq reuses the slot the call wrote below rsp. */
        .globl linux_call_entry
linux_call_entry:
        pop     %rcx
        pushfq
        pop     %r11
        jmp     linux_syscall_entry

        .bss
        .balign 16
kernel_stack:
        .skip   32768
kernel_stack_top:
        .globl  user_rsp
user_rsp:
        .quad   0
        .section .note.GNU-stack, "", @progbits
