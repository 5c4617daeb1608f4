/*
 * crt0: the guest entry point.
 *
 * The monitor enters `_start` in 64-bit mode with rdi = the boot-info page and rsp =
 * boot_info->stack_top (16-byte aligned). .bss and the heap are already zero (the
 * monitor guarantees all RAM outside the file contents is zero), so nothing is cleared
 * here: every page touched costs a shadow-paging fault on kvm_pvm hosts.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/* The boot-info page, for the whole runtime (see pvm_boot_info()). */
struct pvm_boot_info *__pvm_boot;

int main(int argc, char **argv);

/* __attribute__((constructor)) functions, collected by the linker script. */
extern void (*const __init_array_start[])(void);
extern void (*const __init_array_end[])(void);

__attribute__((noreturn, used)) void __pvm_start(struct pvm_boot_info *bi);

/* _start: keep rsp 16-byte aligned at the call (SysV), clear the frame pointer for
 * debuggers, and never return (ud2 faults if __pvm_start ever did). */
__asm__(
    ".section .text.pvm_start,\"ax\",@progbits\n"
    ".globl _start\n"
    ".type _start,@function\n"
    "_start:\n"
    "  xorl %ebp, %ebp\n"
    "  andq $-16, %rsp\n"
    "  call __pvm_start\n"
    "  ud2\n"
    ".size _start, .-_start\n"
    ".text\n");

void __pvm_start(struct pvm_boot_info *bi)
{
  /* A page that is not a boot-info page means a monitor/runtime mismatch: fault at once
   * (the console cannot be trusted), the monitor reports the #UD with this RIP. */
  if (bi == 0 || bi->magic != PVM_BOOT_MAGIC)
    __builtin_trap();
  __pvm_boot = bi;
  __pvm_heap_init(bi->heap_start, bi->heap_end);

  /* argv: the monitor's array holds argc pointers; main() wants argv[argc] == NULL, so
   * copy the pointers onto the stack (bounded by what the ARGS area can hold). */
  uint64_t argc = bi->argc;
  if (argc > PVM_ARGS_SIZE / sizeof(char *))
    argc = PVM_ARGS_SIZE / sizeof(char *);
  if (bi->argv == 0)
    argc = 0;
  char *argv[argc + 1];
  if (argc)
    memcpy(argv, (void *)(uintptr_t)bi->argv, argc * sizeof(char *));
  argv[argc] = 0;

  for (void (*const *fn)(void) = __init_array_start; fn < __init_array_end; fn++)
    (*fn)();

  exit(main((int)argc, argv));
}
