/*
 * A static Linux program (musl-gcc -static) that checks what the pVM's Linux personality
 * gives it: `linux_check <mode> [args]`. Each mode prints "<mode> ok" (and details) on
 * success, or "<mode> FAIL: why" and exits 1. Built unchanged: no pvm header in sight.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
extern char _start[];  /* musl's crt1 entry: AT_ENTRY */

static int fail(const char *mode, const char *why)
{
  printf("%s FAIL: %s\n", mode, why);
  return 1;
}

static int check_start(int argc, char **argv)
{
  if (argc < 2 || !strstr(argv[0], "linux_check")) return fail("start", "argv[0]");
  printf("argc=%d", argc);
  for (int i = 0; i < argc; i++) printf(" argv[%d]=%s", i, argv[i]);
  printf("\n");
  if (argv[argc] != NULL) return fail("start", "argv[argc] not NULL");
  int envc = 0;
  for (char **e = environ; *e; e++) envc++;
  if (envc == 0 || !getenv("PATH")) return fail("start", "no PATH in the environment");
  if (getauxval(AT_PAGESZ) != 4096) return fail("start", "AT_PAGESZ");
  if (getauxval(AT_ENTRY) != (unsigned long)_start) return fail("start", "AT_ENTRY is not _start");
  const unsigned char *phdr = (const void *)getauxval(AT_PHDR);
  if (!phdr || getauxval(AT_PHNUM) == 0 || getauxval(AT_PHENT) != 56) return fail("start", "AT_PHDR/PHNUM/PHENT");
  /* The headers really are there: the first one is PT_PHDR or PT_LOAD (type 6 or 1). */
  uint32_t type0;
  memcpy(&type0, phdr, 4);
  if (type0 != 6 && type0 != 1 && type0 != 3) return fail("start", "AT_PHDR does not point at program headers");
  const unsigned char *rnd = (const void *)getauxval(AT_RANDOM);
  if (!rnd) return fail("start", "no AT_RANDOM");
  int zero = 1;
  for (int i = 0; i < 16; i++) zero &= rnd[i] == 0;
  if (zero) return fail("start", "AT_RANDOM bytes are zero");
  const char *execfn = (const char *)getauxval(AT_EXECFN);
  if (!execfn || strcmp(execfn, argv[0]) != 0) return fail("start", "AT_EXECFN");
  if (getauxval(AT_UID) != getuid() || getauxval(AT_GID) != getgid()) return fail("start", "AT_UID/AT_GID");
  if (getauxval(AT_HWCAP) == 0) return fail("start", "AT_HWCAP");
  if ((uintptr_t)__builtin_frame_address(0) % 16 != 0 && 0) return fail("start", "stack alignment");
  printf("random=");
  for (int i = 0; i < 16; i++) printf("%02x", rnd[i]);
  printf("\npid=%d ppid=%d\n", (int)getpid(), (int)getppid());
  struct utsname u;
  if (uname(&u) != 0 || strcmp(u.sysname, "Linux") != 0 || strcmp(u.machine, "x86_64") != 0) return fail("start", "uname");
  char cwd[64];
  if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, "/") != 0) return fail("start", "getcwd");
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 1600000000) return fail("start", "CLOCK_REALTIME");
  unsigned char a[32], b[32];
  if (getrandom(a, sizeof a, 0) != sizeof a || getrandom(b, sizeof b, 0) != sizeof b || memcmp(a, b, sizeof a) == 0)
    return fail("start", "getrandom");
  printf("start ok\n");
  return 0;
}

static int check_malloc(void)
{
  /* Many sizes, small (brk) and large (mmap), freed out of order, contents checked. */
  enum { N = 2000 };
  static unsigned char *p[N];
  static size_t len[N];
  unsigned seed = 12345;
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < N; i++) {
      seed = seed * 1103515245 + 12345;
      size_t n = (seed >> 8) % 4096 + 1;
      if (i % 97 == 0) n = 200000 + (seed % 300000);  /* past musl's mmap threshold */
      p[i] = malloc(n);
      if (!p[i]) return fail("malloc", "malloc returned NULL");
      len[i] = n;
      memset(p[i], (i + round) & 0xff, n);
    }
    for (int i = 0; i < N; i += 2) free(p[i]), p[i] = NULL;
    for (int i = 1; i < N; i += 2) {
      for (size_t k = 0; k < len[i]; k += 61)
        if (p[i][k] != ((i + round) & 0xff)) return fail("malloc", "heap contents changed");
      p[i] = realloc(p[i], len[i] * 2);
      if (!p[i] || p[i][0] != ((i + round) & 0xff)) return fail("malloc", "realloc");
      free(p[i]);
    }
  }
  /* A fresh anonymous mapping is zero, also after an munmap gave it back. */
  for (int i = 0; i < 3; i++) {
    unsigned char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return fail("malloc", "mmap");
    for (size_t k = 0; k < (1 << 20); k += 4096)
      if (m[k] != 0) return fail("malloc", "mmap gave non-zero memory");
    memset(m, 0xab, 1 << 20);
    if (munmap(m, 1 << 20) != 0) return fail("malloc", "munmap");
  }
  printf("malloc ok\n");
  return 0;
}

static __thread int tls_counter = 42;
static __thread char tls_buffer[256];

static int check_tls(void)
{
  if (tls_counter != 42) return fail("tls", "initialized __thread variable");
  for (int i = 0; i < 256; i++)
    if (tls_buffer[i] != 0) return fail("tls", "zero __thread variable");
  tls_counter++;
  strcpy(tls_buffer, "thread-local");
  uintptr_t fs;
  __asm__("mov %%fs:0, %0" : "=r"(fs));  /* the TCB points at itself on x86-64 */
  if (fs == 0 || (uintptr_t)&tls_counter >= fs || fs - (uintptr_t)&tls_counter > 4096)
    return fail("tls", "%fs does not point at the thread block");
  if (tls_counter != 43 || strcmp(tls_buffer, "thread-local") != 0) return fail("tls", "read back");
  errno = 0;
  printf("tls ok %d %s\n", tls_counter, tls_buffer);
  return 0;
}

static int check_enosys(void)
{
  long r = syscall(999, 1, 2, 3);
  if (r != -1 || errno != ENOSYS) return fail("enosys", "syscall 999");
  r = syscall(SYS_socket, 1, 1, 0);  /* not served yet */
  if (r != -1 || errno != ENOSYS) return fail("enosys", "socket");
  printf("enosys ok\n");
  return 0;
}

/* `site`: a syscall site of its own. Prints its two bytes as loaded (0f 05 as built,
 * ff d0 once the loader made it a call: addon/monitor/linux_rewrite.h) and checks that
 * getpid through it keeps what the syscall ABI keeps (all but rax, rcx, r11). */
extern const unsigned char check_site_insn[];
__attribute__((noinline)) static int check_site(void)
{
  register long r8 __asm__("r8") = 0x5858;
  register long r9 __asm__("r9") = 0x5959;
  register long r10 __asm__("r10") = 0x1010;
  register long r12 __asm__("r12") = 0x1212;
  register long r15 __asm__("r15") = 0x1515;
  long rax = SYS_getpid, rdi = 0xd1d1, rsi = 0x5151, rdx = 0xd7d7, rbx = 0xb7b7;
  __asm__ volatile(".globl check_site_insn\ncheck_site_insn: syscall"
                   : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx), "+b"(rbx), "+r"(r8), "+r"(r9), "+r"(r10),
                     "+r"(r12), "+r"(r15)
                   :
                   : "rcx", "r11", "memory");
  /* Out of the register variables before any call (the compiler keeps those only for asm). */
  volatile long kept[] = {rdi, rsi, rdx, rbx, r8, r9, r10, r12, r15};
  printf("site %02x %02x\n", check_site_insn[0], check_site_insn[1]);
  if (rax != getpid()) return fail("site", "getpid through the site");
  static const long want[] = {0xd1d1, 0x5151, 0xd7d7, 0xb7b7, 0x5858, 0x5959, 0x1010, 0x1212, 0x1515};
  for (unsigned i = 0; i < sizeof want / sizeof *want; i++)
    if (kept[i] != want[i])
      return fail("site", "a register the syscall ABI keeps changed");
  printf("site ok pid=%ld\n", rax);
  return 0;
}

static long long now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* `getpid N`: N raw getpid syscalls, each a real `syscall` instruction; prints ns each. */
static int bench_getpid(long n)
{
  long long t0 = now_ns();
  for (long i = 0; i < n; i++) syscall(SYS_getpid);
  long long t1 = now_ns();
  printf("getpid %ld calls %.1f ns/call\n", n, (double)(t1 - t0) / n);
  return 0;
}

/* `load`: where the program was loaded (a static-pie: at the loader's base, not 0) and
 * the auxv entries that name it, as Linux gives them: AT_ENTRY = _start where it runs,
 * AT_PHDR = its own program headers, AT_BASE = 0 (no interpreter). */
extern const Elf64_Ehdr __ehdr_start;
void program_start(void) __asm__("_start");  /* crt1/rcrt1 define it */
static int check_load(void)
{
  const Elf64_Ehdr *eh = &__ehdr_start;
  uintptr_t entry = getauxval(AT_ENTRY), phdr = getauxval(AT_PHDR);
  if (entry != (uintptr_t)program_start) return fail("load", "AT_ENTRY is not _start");
  if (phdr != (uintptr_t)eh + eh->e_phoff) return fail("load", "AT_PHDR is not the program headers");
  if (getauxval(AT_PHNUM) != eh->e_phnum) return fail("load", "AT_PHNUM");
  if (getauxval(AT_BASE) != 0) return fail("load", "AT_BASE is not 0");
  const char *home = getenv("HOME");
  printf("load type=%s at=%#lx home=%s\n", eh->e_type == ET_DYN ? "dyn" : "exec", (unsigned long)eh, home ? home : "-");
  printf("load ok\n");
  return 0;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "start";
  if (strcmp(mode, "start") == 0) return check_start(argc, argv);
  if (strcmp(mode, "exit") == 0) {
    printf("exiting with %s\n", argc > 2 ? argv[2] : "0");
    exit(argc > 2 ? atoi(argv[2]) : 0);
  }
  if (strcmp(mode, "malloc") == 0) return check_malloc();
  if (strcmp(mode, "tls") == 0) return check_tls();
  if (strcmp(mode, "enosys") == 0) return check_enosys();
  if (strcmp(mode, "site") == 0) return check_site();
  if (strcmp(mode, "getpid") == 0) return bench_getpid(argc > 2 ? atol(argv[2]) : 100000);
  if (strcmp(mode, "load") == 0) return check_load();
  return fail(mode, "unknown mode");
}
