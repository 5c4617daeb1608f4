/*
 * The syscall dispatcher: what the personality serves itself, without leaving the guest
 * where it can. Everything else is -ENOSYS (and a trace line with PVM_TRACE=syscalls).
 * Descriptors (console, pipes) are fd.c's, processes process.c's.
 */
#include "linux.h"
#include "fs.h"

enum {
  SYS_read = 0, SYS_write = 1, SYS_close = 3, SYS_fstat = 5, SYS_mmap = 9, SYS_mprotect = 10,
  SYS_munmap = 11, SYS_brk = 12, SYS_rt_sigaction = 13, SYS_rt_sigprocmask = 14, SYS_ioctl = 16,
  SYS_readv = 19, SYS_writev = 20, SYS_sched_yield = 24, SYS_mremap = 25, SYS_madvise = 28, SYS_getpid = 39,
  SYS_exit = 60, SYS_uname = 63, SYS_getcwd = 79, SYS_gettimeofday = 96, SYS_getrlimit = 97, SYS_getuid = 102,
  SYS_getgid = 104, SYS_geteuid = 107, SYS_getegid = 108, SYS_getppid = 110, SYS_getresuid = 118,
  SYS_getresgid = 120, SYS_sigaltstack = 131, SYS_arch_prctl = 158, SYS_gettid = 186, SYS_time = 201,
  SYS_set_tid_address = 218, SYS_clock_gettime = 228, SYS_clock_getres = 229, SYS_exit_group = 231,
  SYS_newfstatat = 262, SYS_set_robust_list = 273, SYS_prlimit64 = 302, SYS_getrandom = 318,
  SYS_rseq = 334, SYS_poll = 7, SYS_lseek = 8, SYS_pread64 = 17, SYS_pwrite64 = 18, SYS_pipe = 22,
  SYS_select = 23, SYS_dup = 32, SYS_dup2 = 33, SYS_nanosleep = 35, SYS_clone = 56, SYS_fork = 57,
  SYS_vfork = 58, SYS_wait4 = 61, SYS_kill = 62, SYS_fcntl = 72, SYS_tkill = 200,
  SYS_clock_nanosleep = 230, SYS_tgkill = 234, SYS_waitid = 247, SYS_pselect6 = 270, SYS_ppoll = 271,
  SYS_dup3 = 292, SYS_pipe2 = 293, SYS_execve = 59,
  /* files (fs.c) */
  SYS_open = 2, SYS_stat = 4, SYS_lstat = 6, SYS_access = 21, SYS_truncate = 76, SYS_ftruncate = 77,
  SYS_chdir = 80, SYS_fchdir = 81, SYS_rename = 82, SYS_mkdir = 83, SYS_rmdir = 84, SYS_creat = 85,
  SYS_unlink = 87, SYS_readlink = 89, SYS_chmod = 90, SYS_fchmod = 91, SYS_chown = 92, SYS_fchown = 93,
  SYS_lchown = 94, SYS_umask = 95, SYS_fsync = 74, SYS_fdatasync = 75, SYS_getdents64 = 217,
  SYS_openat = 257, SYS_mkdirat = 258, SYS_fchownat = 260, SYS_unlinkat = 263, SYS_renameat = 264,
  SYS_readlinkat = 267, SYS_fchmodat = 268, SYS_faccessat = 269, SYS_utimensat = 280,
  SYS_renameat2 = 316, SYS_faccessat2 = 439, SYS_sendfile = 40,
  /* signals (signal.c) */
  SYS_rt_sigreturn = 15, SYS_pause = 34, SYS_rt_sigpending = 127, SYS_rt_sigsuspend = 130,
  SYS_getitimer = 36, SYS_alarm = 37, SYS_setitimer = 38,
};
#define AT_FDCWD (-100)

#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define AT_EMPTY_PATH 0x1000
#define TCGETS 0x5401
#define TIOCGWINSZ 0x5413

static uint64_t fs_base, gs_base;
struct linux_frame *linux_cur_frame;

struct timespec_l { int64_t sec, nsec; };


static long clock_gettime_l(long clock, struct timespec_l *ts)
{
  if (clock < 0 || clock > 11)
    return -L_EINVAL;
  uint64_t ns = clock == 2 || clock == 3 ? linux_cpu_ns() : linux_now_ns();  /* PROCESS_/THREAD_CPUTIME_ID */
  if (clock == 0 || clock == 5 || clock == 8 || clock == 11)  /* REALTIME, _COARSE, _ALARM, TAI */
    ns += linux_handoff.realtime_offset_ns;
  ts->sec = (int64_t)(ns / 1000000000u);
  ts->nsec = (int64_t)(ns % 1000000000u);
  return 0;
}

static void put_field(char *field, const char *s) { memcpy(field, s, strlen(s) + 1); }

static long uname_l(char *u)
{
  memset(u, 0, 6 * 65);
  put_field(u, "Linux");
  put_field(u + 65, "pvm");
  put_field(u + 130, "6.1.0-pvm");
  put_field(u + 195, "#1 pvm");
  put_field(u + 260, "x86_64");
  put_field(u + 325, "(none)");
  return 0;
}

static long prlimit_l(long pid, long resource, const void *new_limit, uint64_t *old)
{
  (void)new_limit;  /* limits are the pVM's, set by the host: a program cannot change them */
  if (pid != 0 && pid != (long)linux_boot->id)
    return -L_EPERM;
  if (resource < 0 || resource > 15)
    return -L_EINVAL;
  if (old) {
    uint64_t v = ~0ull;                                         /* RLIM_INFINITY */
    if (resource == 3) v = PVM_STACK_SIZE - 4096;               /* RLIMIT_STACK */
    if (resource == 7) v = 1024;                                /* RLIMIT_NOFILE */
    old[0] = old[1] = v;
  }
  return 0;
}

/* kvm: the MSR (CPL0). process: user mode, where the monitor saves and restores the
 * guest's bases around every switch (it needs FSGSBASE in user mode to run a program). */
static void set_base(uint32_t msr, uint64_t addr)
{
  if (!(linux_handoff.flags & PVM_LINUX_USER_MODE))
    linux_wrmsr(msr, addr);
  else if (msr == MSR_FS_BASE)
    __asm__ volatile("wrfsbase %0" : : "r"(addr) : "memory");
  else
    __asm__ volatile("wrgsbase %0" : : "r"(addr) : "memory");
}

static long arch_prctl_l(long code, uint64_t addr)
{
  switch (code) {
    case ARCH_SET_FS: fs_base = addr; set_base(MSR_FS_BASE, addr); return 0;
    case ARCH_SET_GS: gs_base = addr; set_base(MSR_GS_BASE, addr); return 0;
    case ARCH_GET_FS: *(uint64_t *)(uintptr_t)addr = fs_base; return 0;
    case ARCH_GET_GS: *(uint64_t *)(uintptr_t)addr = gs_base; return 0;
    default: return -L_EINVAL;
  }
}

/* nanosleep and clock_nanosleep: sleep in WAIT with no channel until `deadline`; a
 * signal that runs a handler ends it early: -EINTR and what was left in `rem`. */
static long sleep_until(uint64_t deadline, struct timespec_l *rem)
{
  for (uint64_t now; (now = linux_now_ns()) < deadline;) {
    if (linux_signal_interrupts()) {
      if (rem) rem->sec = (int64_t)((deadline - now) / 1000000000u), rem->nsec = (int64_t)((deadline - now) % 1000000000u);
      return -L_EINTR;
    }
    uint64_t limit = linux_signal_wait_limit_ns();  /* wake for SIGALRM */
    linux_sleep_ns(deadline - now < limit ? deadline - now : limit);
  }
  if (rem) rem->sec = rem->nsec = 0;
  return 0;
}

static long nanosleep_l(long clock, long flags, const struct timespec_l *req, struct timespec_l *rem)
{
  if (!req || req->nsec < 0 || req->nsec >= 1000000000 || req->sec < 0)
    return -L_EINVAL;
  uint64_t ns = (uint64_t)req->sec * 1000000000u + (uint64_t)req->nsec;
  if (flags & 1) {  /* TIMER_ABSTIME: a time on `clock` */
    if (clock == 0 || clock == 11) ns -= linux_handoff.realtime_offset_ns;
    return sleep_until(ns, 0);
  }
  return sleep_until(linux_now_ns() + ns, rem);
}

/* poll's timeout in ms, ppoll's and pselect's timespec, select's timeval: ns, or -1. */
static int64_t timeout_ms(long ms) { return ms < 0 ? -1 : (int64_t)ms * 1000000; }
static int64_t timeout_ts(const struct timespec_l *ts)
{
  return ts ? ts->sec * 1000000000 + ts->nsec : -1;
}

static long serve(long nr, struct linux_frame *f);

long linux_syscall(long nr, struct linux_frame *f)
{
  linux_cur_frame = f;
  linux_signal_nr = (int)nr;
  long r = serve(nr, f);
  if (linux_handoff.flags & PVM_LINUX_TRACE_ALL)
    linux_trace_call(nr, f->rdi, f->rsi, f->rdx, r);
  f->rax = (uint64_t)r;
  if ((linux_signal_pending_set & ~linux_signal_blocked_set) || linux_boot->pending_signals ||
      linux_signal_alarm_at || linux_signal_suspended)
    linux_signal_exit(f);  /* a due signal's handler runs next */
  return r;
}

static long serve(long nr, struct linux_frame *f)
{
  uint64_t a0 = f->rdi, a1 = f->rsi, a2 = f->rdx, a3 = f->r10, a4 = f->r8, a5 = f->r9;
  struct pvm_boot_info *bi = linux_boot;
  switch (nr) {
    case SYS_read: return linux_read((long)a0, (void *)(uintptr_t)a1, a2);
    case SYS_readv: return linux_readv((long)a0, (const void *)(uintptr_t)a1, (long)a2);
    case SYS_write: return linux_write((long)a0, (const void *)(uintptr_t)a1, a2);
    case SYS_writev: return linux_writev((long)a0, (const void *)(uintptr_t)a1, (long)a2);
    case SYS_close: return linux_close((long)a0);
    case SYS_fstat: return linux_fstat((long)a0, (uint8_t *)(uintptr_t)a1);
    case SYS_newfstatat:
      if ((a3 & AT_EMPTY_PATH) && a1 && *(const char *)(uintptr_t)a1 == 0)
        return linux_fstat((long)(int)a0, (uint8_t *)(uintptr_t)a2);
      return linux_fs_fstatat((long)(int)a0, (const char *)(uintptr_t)a1, (uint8_t *)(uintptr_t)a2);
    case SYS_stat: case SYS_lstat: return linux_fs_fstatat(AT_FDCWD, (const char *)(uintptr_t)a0, (uint8_t *)(uintptr_t)a1);
    case SYS_open: return linux_openat(AT_FDCWD, (const char *)(uintptr_t)a0, (long)a1, (long)a2);
    case SYS_creat: return linux_openat(AT_FDCWD, (const char *)(uintptr_t)a0, 01101, (long)a1);  /* O_CREAT|O_WRONLY|O_TRUNC */
    case SYS_openat: return linux_openat((long)(int)a0, (const char *)(uintptr_t)a1, (long)a2, (long)a3);
    case SYS_sendfile: return linux_sendfile((long)a0, (long)a1, (int64_t *)(uintptr_t)a2, a3);
    case SYS_getdents64: return linux_getdents64((long)a0, (uint8_t *)(uintptr_t)a1, a2);
    case SYS_ftruncate: return linux_ftruncate((long)a0, (int64_t)a1);
    case SYS_truncate: {
      long fd = linux_openat(AT_FDCWD, (const char *)(uintptr_t)a0, 1, 0);
      if (fd < 0) return fd;
      long r = linux_ftruncate(fd, (int64_t)a1);
      linux_close(fd);
      return r;
    }
    case SYS_mkdir: return linux_mkdirat(AT_FDCWD, (const char *)(uintptr_t)a0, (long)a1);
    case SYS_mkdirat: return linux_mkdirat((long)(int)a0, (const char *)(uintptr_t)a1, (long)a2);
    case SYS_unlink: return linux_unlinkat(AT_FDCWD, (const char *)(uintptr_t)a0, 0);
    case SYS_rmdir: return linux_unlinkat(AT_FDCWD, (const char *)(uintptr_t)a0, 0x200);
    case SYS_unlinkat: return linux_unlinkat((long)(int)a0, (const char *)(uintptr_t)a1, (long)a2);
    case SYS_rename: return linux_renameat(AT_FDCWD, (const char *)(uintptr_t)a0, AT_FDCWD, (const char *)(uintptr_t)a1, 0);
    case SYS_renameat: return linux_renameat((long)(int)a0, (const char *)(uintptr_t)a1, (long)(int)a2, (const char *)(uintptr_t)a3, 0);
    case SYS_renameat2:
      return linux_renameat((long)(int)a0, (const char *)(uintptr_t)a1, (long)(int)a2, (const char *)(uintptr_t)a3, (long)a4);
    case SYS_access: return linux_faccessat(AT_FDCWD, (const char *)(uintptr_t)a0, (long)a1);
    case SYS_faccessat: case SYS_faccessat2: return linux_faccessat((long)(int)a0, (const char *)(uintptr_t)a1, (long)a2);
    case SYS_readlink: return linux_readlinkat(AT_FDCWD, (const char *)(uintptr_t)a0, (char *)(uintptr_t)a1, a2);
    case SYS_readlinkat: return linux_readlinkat((long)(int)a0, (const char *)(uintptr_t)a1, (char *)(uintptr_t)a2, a3);
    case SYS_chdir: return linux_chdir((const char *)(uintptr_t)a0);
    case SYS_fchdir: return linux_fchdir((long)a0);
    case SYS_umask: return 022;  /* fixed: files are created with mode & ~022 */
    case SYS_fsync: case SYS_fdatasync: return linux_fd_ready((long)a0, 0) & 0x20 ? -L_EBADF : 0;
    /* One user (root) and no times to set: these only say whether the path is there. */
    case SYS_chmod: case SYS_chown: case SYS_lchown: return linux_faccessat(AT_FDCWD, (const char *)(uintptr_t)a0, 0);
    case SYS_fchmodat: case SYS_fchownat: return linux_faccessat((long)(int)a0, (const char *)(uintptr_t)a1, 0);
    case SYS_fchmod: case SYS_fchown: return linux_fd_ready((long)a0, 0) & 0x20 ? -L_EBADF : 0;
    case SYS_utimensat:
      return a1 ? linux_faccessat((long)(int)a0, (const char *)(uintptr_t)a1, 0) : (linux_fd_ready((long)a0, 0) & 0x20 ? -L_EBADF : 0);
    case SYS_ioctl: return linux_ioctl((long)a0, (long)a1, a2);
    case SYS_lseek: return linux_lseek((long)a0, (int64_t)a1, (long)a2);
    case SYS_pread64: return linux_pread((long)a0, (void *)(uintptr_t)a1, a2, (int64_t)a3, 0);
    case SYS_pwrite64: return linux_pread((long)a0, (void *)(uintptr_t)a1, a2, (int64_t)a3, 1);
    case SYS_pipe: return linux_pipe2((int *)(uintptr_t)a0, 0);
    case SYS_pipe2: return linux_pipe2((int *)(uintptr_t)a0, (long)a1);
    case SYS_dup: return linux_dup((long)a0);
    case SYS_dup2: return linux_dup3((long)a0, (long)a1, 0, 1);
    case SYS_dup3: return linux_dup3((long)a0, (long)a1, (long)a2, 0);
    case SYS_fcntl: return linux_fcntl((long)a0, (long)a1, a2);
    case SYS_poll: return linux_poll((void *)(uintptr_t)a0, a1, timeout_ms((long)(int)a2));
    case SYS_ppoll: {
      long m = a3 ? linux_signal_temp_mask((const uint64_t *)(uintptr_t)a3, a4) : 0;
      return m < 0 ? m : linux_poll((void *)(uintptr_t)a0, a1, timeout_ts((const struct timespec_l *)(uintptr_t)a2));
    }
    case SYS_select: {
      const int64_t *tv = (const int64_t *)(uintptr_t)a4;
      int64_t t = tv ? tv[0] * 1000000000 + tv[1] * 1000 : -1;
      return linux_select((long)a0, (uint64_t *)(uintptr_t)a1, (uint64_t *)(uintptr_t)a2, (uint64_t *)(uintptr_t)a3, t);
    }
    case SYS_pselect6:
      if (a5 && ((const uint64_t *)(uintptr_t)a5)[0]) {  /* { const sigset_t *, size } */
        const uint64_t *sm = (const uint64_t *)(uintptr_t)a5;
        long m = linux_signal_temp_mask((const uint64_t *)(uintptr_t)sm[0], sm[1]);
        if (m < 0) return m;
      }
      return linux_select((long)a0, (uint64_t *)(uintptr_t)a1, (uint64_t *)(uintptr_t)a2, (uint64_t *)(uintptr_t)a3,
                          timeout_ts((const struct timespec_l *)(uintptr_t)a4));
    case SYS_nanosleep: return nanosleep_l(1, 0, (const struct timespec_l *)(uintptr_t)a0, (struct timespec_l *)(uintptr_t)a1);
    case SYS_clock_nanosleep:
      return nanosleep_l((long)a0, (long)a1, (const struct timespec_l *)(uintptr_t)a2, (struct timespec_l *)(uintptr_t)a3);
    case SYS_fork: case SYS_vfork: return linux_fork(0, 0, 0, 0);
    case SYS_execve: return linux_execve((const char *)(uintptr_t)a0, (char *const *)(uintptr_t)a1, (char *const *)(uintptr_t)a2);
    case SYS_clone: return linux_fork(a0, a1, a2, a3);
    case SYS_wait4: return linux_wait4((int64_t)(int32_t)a0, (int *)(uintptr_t)a1, (long)a2, (void *)(uintptr_t)a3);
    case SYS_waitid: return linux_waitid((long)a0, a1, (uint8_t *)(uintptr_t)a2, (long)a3);
    case SYS_kill: return linux_kill((int64_t)(int32_t)a0, (long)a1);
    case SYS_tkill: return linux_kill((int64_t)(int32_t)a0, (long)a1 | LINUX_KILL_TKILL);
    case SYS_tgkill: return linux_kill((int64_t)(int32_t)a1, (long)a2 | LINUX_KILL_TKILL);
    case SYS_mmap: return linux_mmap(a0, a1, (long)a2, (long)a3, (long)a4, a5);
    case SYS_munmap: return linux_munmap(a0, a1);
    case SYS_mremap: return linux_mremap(a0, a1, a2, (long)a3);
    case SYS_mprotect: return 0;  /* all of RAM is read-write-execute */
    case SYS_madvise: return linux_madvise(a0, a1, (long)a2);
    case SYS_brk: return linux_brk(a0);
    case SYS_rt_sigaction: return linux_rt_sigaction((long)a0, (const void *)(uintptr_t)a1, (void *)(uintptr_t)a2, a3);
    case SYS_rt_sigprocmask:
      return linux_rt_sigprocmask((long)a0, (const uint64_t *)(uintptr_t)a1, (uint64_t *)(uintptr_t)a2, a3);
    case SYS_rt_sigreturn: return linux_rt_sigreturn(f);
    case SYS_rt_sigpending: return linux_rt_sigpending((uint64_t *)(uintptr_t)a0, a1);
    case SYS_rt_sigsuspend: return linux_rt_sigsuspend((const uint64_t *)(uintptr_t)a0, a1);
    case SYS_pause: return linux_pause();
    case SYS_alarm: return linux_alarm(a0 & 0xffffffffu);
    case SYS_getitimer: return linux_getitimer((long)a0, (struct timeval_l *)(uintptr_t)a1);
    case SYS_setitimer: return linux_setitimer((long)a0, (const struct timeval_l *)(uintptr_t)a1, (struct timeval_l *)(uintptr_t)a2);
    case SYS_sigaltstack: return linux_sigaltstack((const uint64_t *)(uintptr_t)a0, (uint64_t *)(uintptr_t)a1, f->rsp);
    case SYS_sched_yield: return 0;
    case SYS_getpid: case SYS_gettid: case SYS_set_tid_address: return (long)bi->id;
    case SYS_getppid: return (long)bi->parent_id;
    case SYS_getuid: case SYS_geteuid: case SYS_getgid: case SYS_getegid: return 0;
    case SYS_getresuid: case SYS_getresgid:
      *(uint32_t *)(uintptr_t)a0 = *(uint32_t *)(uintptr_t)a1 = *(uint32_t *)(uintptr_t)a2 = 0;
      return 0;
    case SYS_uname: return uname_l((char *)(uintptr_t)a0);
    case SYS_getcwd: return linux_getcwd((char *)(uintptr_t)a0, a1);
    case SYS_arch_prctl: return arch_prctl_l((long)a0, a1);
    case SYS_set_robust_list: return 0;
    case SYS_rseq: return -L_ENOSYS;  /* as on a kernel without rseq: libcs go on without */
    case SYS_clock_gettime: return clock_gettime_l((long)a0, (struct timespec_l *)(uintptr_t)a1);
    case SYS_clock_getres:
      if (a1) ((struct timespec_l *)(uintptr_t)a1)->sec = 0, ((struct timespec_l *)(uintptr_t)a1)->nsec = 1;
      return 0;
    case SYS_gettimeofday:
      if (a0) {
        struct timespec_l ts;
        clock_gettime_l(0, &ts);
        ((int64_t *)(uintptr_t)a0)[0] = ts.sec;
        ((int64_t *)(uintptr_t)a0)[1] = ts.nsec / 1000;
      }
      return 0;
    case SYS_time: {
      struct timespec_l ts;
      clock_gettime_l(0, &ts);
      if (a0) *(int64_t *)(uintptr_t)a0 = ts.sec;
      return ts.sec;
    }
    case SYS_getrandom: linux_random((void *)(uintptr_t)a0, a1); return (long)a1;
    case SYS_getrlimit: return prlimit_l(0, (long)a0, 0, (uint64_t *)(uintptr_t)a1);
    case SYS_prlimit64: return prlimit_l((long)a0, (long)a1, (const void *)(uintptr_t)a2, (uint64_t *)(uintptr_t)a3);
    case SYS_exit: case SYS_exit_group: linux_exit((int)(a0 & 0xff));
  }
  linux_trace_unserved(nr);
  return -L_ENOSYS;
}
