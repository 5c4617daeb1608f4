/*
 * escape: a guest that tries to reach the host around the hypercalls, one way per
 * argv[1] (test/process.test.ts; on the process backend it runs inside its monitor).
 *   getpid     a raw `syscall` instruction: getpid (39)
 *   open       a raw `syscall`: openat(AT_FDCWD, "/etc/hostname", O_RDONLY)
 *   write      a raw `syscall`: write(1, "escaped\n", 8): the host's stdout must not see it
 *   int80      the 32-bit system call gate: int $0x80 with eax = 20 (getpid)
 *   monitor    jumps into the monitor's code (one byte into its hypercall entry)
 * Prints "escape: about to <how>" first; if the call comes back it prints
 * "escape: <how> returned <r>" and exits 3.
 */
#include <pvm.h>
#include <stdio.h>
#include <string.h>

static long raw_syscall3(long nr, long a, long b, long c)
{
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

int main(int argc, char **argv)
{
  const char *how = argc > 1 ? argv[1] : "";
  printf("escape: about to %s\n", how);
  pvm_console_flush();
  long r = -1;
  if (!strcmp(how, "getpid")) {
    r = raw_syscall3(39, 0, 0, 0);
  } else if (!strcmp(how, "open")) {
    r = raw_syscall3(257, -100, (long)"/etc/hostname", 0);
  } else if (!strcmp(how, "write")) {
    r = raw_syscall3(1, 1, (long)"escaped\n", 8);
  } else if (!strcmp(how, "int80")) {
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
  } else if (!strcmp(how, "monitor")) {
    const volatile struct pvm_boot_info *bi = (const volatile struct pvm_boot_info *)(uintptr_t)PVM_BOOT_INFO_GPA;
    uint64_t target = bi->hypercall_entry ? bi->hypercall_entry + 1 : 0x7fff00000000ull;
    ((void (*)(void))(uintptr_t)target)();
    r = 0;
  } else {
    printf("escape: unknown way %s\n", how);
    return 2;
  }
  printf("escape: %s returned %ld\n", how, r);
  return 3;
}
