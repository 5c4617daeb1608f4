/*
 * From the monitor's entry to the program's: point `syscall` at the personality, then
 * build the stack Linux gives a new program (argc, argv, envp, auxv, and the strings
 * and random bytes they point at) at the top of RAM.
 */
#include "linux.h"
#include "fs.h"

struct pvm_boot_info *linux_boot;
struct pvm_boot_info *__pvm_boot;  /* what pvm.h's inline helpers (channel table, slots) read */

#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_FMASK 0xc0000084u
/* Cleared on entry like Linux does: TF, IF, DF, IOPL, NT, AC. */
#define SYSCALL_FMASK 0x47700ull
#define KERNEL_CS 0x10ull  /* the monitor's GDT: 0x10 code, 0x18 data */

void linux_syscall_entry(void);

enum {
  AT_NULL = 0, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5, AT_PAGESZ = 6, AT_BASE = 7, AT_FLAGS = 8,
  AT_ENTRY = 9, AT_UID = 11, AT_EUID = 12, AT_GID = 13, AT_EGID = 14, AT_PLATFORM = 15, AT_HWCAP = 16,
  AT_CLKTCK = 17, AT_SECURE = 23, AT_RANDOM = 25, AT_HWCAP2 = 26, AT_EXECFN = 31,
};

/* The environment a spawned program starts with when the host gives none (the env spawn
 * option: boot-info envp/envc with PVM_BOOT_FLAG_ENV); after an execve, the one execve
 * was given. */
static const char *const default_env[] = {"PATH=/bin:/usr/bin", "HOME=/", "TERM=dumb"};
#define MAX_ENVC 2048

static uint64_t hwcap(void)
{
  uint32_t a = 1, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  return d;
}

/* Copies a string below *top, returns its address. */
static uint64_t push_string(uint64_t *top, const char *s)
{
  size_t n = strlen(s) + 1;
  *top -= n;
  memcpy((void *)(uintptr_t)*top, s, n);
  return *top;
}

uint64_t linux_start(struct pvm_boot_info *bi)
{
  if (bi == 0 || bi->magic != PVM_BOOT_MAGIC)
    __builtin_trap();
  linux_boot = __pvm_boot = bi;
  linux_cpu_clock_start();
  if (!(linux_handoff.flags & PVM_LINUX_USER_MODE)) {  /* process: no MSRs, the backend traps */
    linux_wrmsr(MSR_STAR, KERNEL_CS << 32);
    linux_wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)linux_syscall_entry);
    linux_wrmsr(MSR_FMASK, SYSCALL_FMASK);
  }
  linux_random_init(bi->entropy);
  /* The files' archive (if any) is at the top of the heap area: the heap ends below it. */
  const struct pvm_linux_handoff *files = &linux_handoff;
  int have_files = files->files_size && files->files_gpa >= bi->heap_start && files->files_gpa < bi->heap_end;
  linux_memory_init(bi->heap_start, have_files ? files->files_gpa : bi->heap_end);
  linux_fs_init(have_files ? files->files_gpa : 0, have_files ? files->files_size : 0);
  linux_fd_init();
  linux_trace_call_sites();

  const struct pvm_linux_handoff *h = &linux_handoff;
  char **args = (char **)(uintptr_t)bi->argv;
  uint64_t argc = bi->argc;
  enum { MAX_ARGS = PVM_ARGS_SIZE / 16 };
  if (argc > MAX_ARGS)
    argc = MAX_ARGS;
  /* After an execve: the descriptors, environment ... the old image left (exec.c). */
  const struct exec_state *execed = linux_exec_state(argc > 0 && args ? args[0] : "");
  static const char *env[MAX_ENVC];
  uint64_t ENVC;
  if (execed) {
    ENVC = linux_exec_env(execed, env, MAX_ENVC);
  } else if (bi->flags & PVM_BOOT_FLAG_ENV) {
    const char *const *given = (const char *const *)(uintptr_t)bi->envp;
    ENVC = bi->envc < MAX_ENVC ? bi->envc : MAX_ENVC;
    for (uint64_t i = 0; i < ENVC; i++)
      env[i] = given[i];
  } else {
    ENVC = sizeof default_env / sizeof *default_env;
    memcpy(env, default_env, sizeof default_env);
  }

  /* Strings and bytes at the top, in the order Linux puts them (roughly). */
  uint64_t top = bi->stack_top - 16;
  uint64_t execfn = push_string(&top, argc > 0 && args ? args[0] : "");
  static uint64_t argv[MAX_ARGS], envp[MAX_ENVC];
  for (uint64_t i = argc; i-- > 0;)
    argv[i] = push_string(&top, args[i]);
  for (uint64_t i = ENVC; i-- > 0;)
    envp[i] = push_string(&top, env[i]);
  uint64_t platform = push_string(&top, "x86_64");
  top &= ~15ull;
  top -= 16;
  uint64_t random = top;
  linux_random((void *)(uintptr_t)random, 16);

  uint64_t auxv[][2] = {
      {AT_PHDR, h->phdr}, {AT_PHENT, 56}, {AT_PHNUM, h->phnum}, {AT_PAGESZ, 4096}, {AT_BASE, 0},
      {AT_FLAGS, 0}, {AT_ENTRY, h->entry}, {AT_UID, 0}, {AT_EUID, 0}, {AT_GID, 0}, {AT_EGID, 0},
      {AT_PLATFORM, platform}, {AT_HWCAP, hwcap()}, {AT_CLKTCK, 100}, {AT_SECURE, 0},
      {AT_RANDOM, random}, {AT_HWCAP2, 0}, {AT_EXECFN, execfn}, {AT_NULL, 0},
  };
  uint64_t words = 1 + argc + 1 + ENVC + 1 + sizeof auxv / 8;
  top -= words * 8;
  top &= ~15ull;  /* rsp at argc: 16-byte aligned */
  uint64_t *sp = (uint64_t *)(uintptr_t)top;
  *sp++ = argc;
  for (uint64_t i = 0; i < argc; i++)
    *sp++ = argv[i];
  *sp++ = 0;
  for (uint64_t i = 0; i < ENVC; i++)
    *sp++ = envp[i];
  *sp++ = 0;
  memcpy(sp, auxv, sizeof auxv);
  linux_exec_done();  /* the strings are copied: the hand-over region goes */
  return top;
}
