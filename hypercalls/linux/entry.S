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
 * no signals yet: one stack is enough. */
        .globl linux_syscall_entry
linux_syscall_entry:
        mov     %rsp, user_rsp(%rip)
        lea     kernel_stack_top(%rip), %rsp
        push    %r11
        push    %rcx
        push    %rdi
        push    %rsi
        push    %rdx
        push    %r10
        push    %r8
        push    %r9                     /* 8 pushes: rsp 16-byte aligned at the call */
        cld
        mov     %rax, %rdi              /* nr */
        mov     %rsp, %rsi              /* struct linux_frame * */
        call    linux_syscall
        pop     %r9
        pop     %r8
        pop     %r10
        pop     %rdx
        pop     %rsi
        pop     %rdi
        pop     %rcx
        pop     %r11
        push    %r11
        popfq
        mov     user_rsp(%rip), %rsp
        jmp     *%rcx

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
