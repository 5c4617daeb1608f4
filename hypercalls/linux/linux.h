/* The Linux personality's internals (see entry.S for how a syscall gets here). */
#ifndef PVM_LINUX_INTERNAL_H
#define PVM_LINUX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <pvm.h>
#include "handoff.h"

extern struct pvm_linux_handoff linux_handoff;
extern struct pvm_boot_info *linux_boot;

/* The program's registers at a syscall, as entry.S pushed them (its top an iretq frame). */
struct linux_frame {
  uint64_t r15, r14, r13, r12, rbp, rbx, rax, r9, r8, r10, rdx, rsi, rdi, rcx, r11;
  uint64_t rip, cs, rflags, rsp, ss;
};
extern struct linux_frame *linux_cur_frame;  /* the syscall being served */

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

/* sleep.c: waiting without a doorbell (pipes, poll, nanosleep). */
struct linux_backoff { unsigned spins; uint64_t sleep_ns; };
void linux_backoff_wait(struct linux_backoff *b);  /* spin a little, then sleep longer each time */
void linux_sleep_ns(uint64_t ns);                  /* WAIT with no channel: ns, or less */
uint64_t linux_now_ns(void);                       /* CLOCK_MONOTONIC (runtime/clock.c) */
void linux_cpu_clock_start(void);                  /* the process's CPU time starts at 0 (start, fork) */
void linux_cpu_idle_since(uint64_t t0);            /* waited since t0: not CPU time */
uint64_t linux_cpu_ns(void);                       /* CLOCK_PROCESS_CPUTIME_ID */
void linux_drop_pvm_signals(void);                 /* take the page's pending signals (signal.c) */

/* fd.c: the file descriptor table (console, pipes). */
void linux_fd_init(void);
long linux_read(long fd, void *buf, uint64_t len);
long linux_write(long fd, const void *buf, uint64_t len);
long linux_readv(long fd, const void *iov, long count);
long linux_writev(long fd, const void *iov, long count);
long linux_close(long fd);
long linux_dup(long fd);
long linux_dup3(long oldfd, long newfd, long flags, int is_dup2);
long linux_fcntl(long fd, long cmd, uint64_t arg);
long linux_fstat(long fd, uint8_t *st);
long linux_ioctl(long fd, long req, uint64_t arg);
long linux_lseek(long fd, int64_t off, long whence);
long linux_pread(long fd, void *buf, uint64_t len, int64_t off, int write);  /* pread64/pwrite64 */
long linux_ftruncate(long fd, int64_t len);
long linux_getdents64(long fd, uint8_t *buf, uint64_t count);
long linux_sendfile(long out, long in, int64_t *offset, uint64_t count);
long linux_fd_open_null(long flags);  /* /dev/null */
long linux_pipe2(int *fds, long flags);
short linux_fd_ready(long fd, short events);  /* poll's revents for fd */

/* stdin.c: fd 0's input from the host. */
long linux_stdin_read(void *buf, uint64_t len, int nonblock);
int linux_stdin_ready(void);          /* poll: bytes waiting, or the end of input */
long linux_stdin_waiting(void);       /* FIONREAD */
void linux_stdin_fork_prepare(void);  /* the parent, before FORK: the child gets a copy */
uint32_t linux_stdin_buffered(void);  /* exec: what it took and has not read goes across */
uint32_t linux_stdin_save(uint8_t *out);
void linux_stdin_restore(const uint8_t *in, uint32_t len);

/* poll.c */
long linux_poll(void *fds, uint64_t nfds, int64_t timeout_ns);
long linux_select(long nfds, uint64_t *r, uint64_t *w, uint64_t *e, int64_t timeout_ns);
int linux_fd_fork_prepare(void);   /* the parent, before FORK: pipe ends counted for the child */
void linux_fd_fork_undo(void);     /* the parent, after a failed FORK */
void linux_fd_fork_child(void);    /* the child: take over the ends counted for it */
void linux_fd_close_all(void);     /* at exit */
void linux_fd_exec(void);          /* at exec: close O_CLOEXEC fds */
void linux_fd_child_gone(uint64_t id); /* a child that did not exit by itself: drop its pipe ends */

/* What exec hands to the new image's personality (exec.c): fd.c's table, process.c's
 * children, saved and restored byte for byte. */
#define LINUX_MAX_FDS 256
#define LINUX_FD_STATE_SIZE (LINUX_MAX_FDS * 12)
#define LINUX_CHILDREN_STATE_SIZE (256 * 16)
#define LINUX_FS_STATE_SIZE (8 + LINUX_MAX_FDS * 24)
void linux_fd_save(uint8_t *out);
void linux_fd_restore(const uint8_t *in);
void linux_children_save(uint8_t *out);
void linux_children_restore(const uint8_t *in);

/* exec.c */
struct exec_state;
const struct exec_state *linux_exec_state(const char *argv0);  /* 0 if spawned, not exec'd */
uint32_t linux_exec_env(const struct exec_state *st, const char **out, uint32_t max);
void linux_exec_done(void);
long linux_execve(const char *path, char *const argv[], char *const envp[]);
const char *linux_self_path(void);  /* /proc/self/exe: the image's path as it was named */

/* process.c: fork, wait, kill, exit. */
long linux_fork(uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t ctid);
long linux_wait4(int64_t pid, int *status, long options, void *rusage);
long linux_waitid(long idtype, uint64_t id, uint8_t *info, long options);
long linux_kill(int64_t pid, long sig);  /* sig | LINUX_KILL_TKILL: from tkill/tgkill */
#define LINUX_KILL_TKILL 0x10000
__attribute__((noreturn)) void linux_exit(int code);
extern uint8_t linux_sigactions[65][32];

/* signal.c: handlers, masks, delivery at the return from a syscall. */
extern int linux_signal_nr;                          /* the syscall being served */
extern uint64_t linux_signal_alarm_at;               /* ITIMER_REAL deadline, 0: none */
extern uint64_t linux_signal_pending_set, linux_signal_blocked_set;  /* sigsets */
extern int linux_signal_suspended;                   /* in sigsuspend: its old mask to put back */
void linux_signal_exit(struct linux_frame *f);       /* a syscall ends: deliver what is due */
void linux_signal_raise(int sig, int code, int pid); /* make `sig` pending here */
int linux_signal_interrupts(void);   /* a blocking call must return -EINTR now */
long linux_rt_sigreturn(struct linux_frame *f);
long linux_rt_sigaction(long sig, const void *act, void *old, uint64_t size);
long linux_rt_sigprocmask(long how, const uint64_t *set, uint64_t *old, uint64_t size);
long linux_rt_sigpending(uint64_t *set, uint64_t size);
long linux_rt_sigsuspend(const uint64_t *mask, uint64_t size);
long linux_signal_temp_mask(const uint64_t *mask, uint64_t size);  /* ppoll/pselect6 */
long linux_pause(void);
long linux_sigaltstack(const uint64_t *ss, uint64_t *old, uint64_t sp);
struct timeval_l;
long linux_alarm(uint64_t seconds);
long linux_getitimer(long which, struct timeval_l *cur);
long linux_setitimer(long which, const struct timeval_l *nv, struct timeval_l *old);
uint64_t linux_signal_wait_limit_ns(void);  /* until the ITIMER_REAL timer is due; ~0: none */
void linux_signal_fork_child(void);
uint64_t linux_signal_blocked(void);
void linux_signal_exec_restore(uint64_t mask);

/* out.c: the console (fds 1 and 2) and the trace line. */
void linux_console_write(const void *buf, size_t len);
void linux_trace_unserved(long nr);
void linux_trace_call(long nr, uint64_t a0, uint64_t a1, uint64_t a2, long result);
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
#define L_ESRCH 3
#define L_EINTR 4
#define L_E2BIG 7
#define L_ENOEXEC 8
#define L_EBADF 9
#define L_ECHILD 10
#define L_EAGAIN 11
#define L_ENOMEM 12
#define L_EFAULT 14
#define L_ENODEV 19
#define L_EINVAL 22
#define L_EMFILE 24
#define L_ENOTTY 25
#define L_ESPIPE 29
#define L_EPIPE 32
#define L_ERANGE 34
#define L_ENOSYS 38
#define L_EACCES 13
#define L_EBUSY 16
#define L_EEXIST 17
#define L_ENOTDIR 20
#define L_EISDIR 21
#define L_ENFILE 23
#define L_EFBIG 27
#define L_ENOSPC 28
#define L_ENAMETOOLONG 36
#define L_ENOTEMPTY 39

#endif
