#include "monitor/seccomp.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace pvm::monitor {

namespace {

// Every system call the core of a monitor makes after Confine(), its forked children and
// spares included (glibc's wrappers: fork is clone, sigqueue is rt_sigqueueinfo, ...).
// The backend adds its own (BackendEntry::seccomp_additions).
constexpr int kAllowed[] = {
    // I/O on fds it has: the control socket, channels, eventfds, pidfds, images
    SYS_read, SYS_write, SYS_pread64, SYS_close, SYS_close_range, SYS_fstat, SYS_newfstatat, SYS_lseek,
    SYS_sendmsg, SYS_recvmsg, SYS_socketpair, SYS_fcntl, SYS_dup, SYS_dup2, SYS_dup3, SYS_ppoll, SYS_poll,
    SYS_epoll_wait, SYS_eventfd2, SYS_memfd_create, SYS_ftruncate,
    // memory: guest RAM for exec, channels, shared regions, the heap
    SYS_mmap, SYS_munmap, SYS_mremap, SYS_madvise, SYS_mprotect, SYS_brk,
    // pVM fork and its family
    SYS_clone, SYS_clone3, SYS_fork, SYS_wait4, SYS_waitid, SYS_pidfd_open, SYS_pidfd_send_signal, SYS_kill,
    SYS_rt_sigqueueinfo, SYS_prctl, SYS_getpid, SYS_getppid, SYS_gettid, SYS_getuid, SYS_set_robust_list,
    SYS_rseq, SYS_getrandom,
    // reset: the fork point's pages, from the keeper (reset.h)
    SYS_process_vm_readv,
    // signals and time
    SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigtimedwait, SYS_rt_sigreturn, SYS_clock_gettime,
    SYS_clock_nanosleep, SYS_nanosleep, SYS_futex, SYS_sched_yield,
    SYS_exit, SYS_exit_group,
};

}  // namespace

bool Confine(std::span<const int> backend_syscalls, uint64_t guest_code_limit, Failure* why,
             std::span<const SeccompArgRule> arg_rules) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "PR_SET_NO_NEW_PRIVS");
  std::vector<sock_filter> prog;
  if (guest_code_limit != 0) {
    // Who is calling, first: an instruction pointer below the limit is the guest's, and
    // so is any ABI it uses (int $0x80 arrives as AUDIT_ARCH_I386). Two 32-bit halves.
    constexpr uint32_t kIpLo = offsetof(seccomp_data, instruction_pointer);
    constexpr uint32_t kIpHi = kIpLo + 4;
    uint32_t hi = static_cast<uint32_t>(guest_code_limit >> 32);
    uint32_t lo = static_cast<uint32_t>(guest_code_limit);
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIpHi));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 4, 0));  // above: the monitor
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi, 0, 2));  // below: the guest
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kIpLo));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 1, 0));  // at or above: the monitor
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP));
  }
  // Only x86-64 system calls (not the x32 or i386 entry points).
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  prog.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));  // __X32_SYSCALL_BIT
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  // The narrow rules first: nr, then the argument's two 32-bit halves; A holds nr again after.
  for (const SeccompArgRule& r : arg_rules) {
    if (r.arg > 5) return Fail(why, ctl::ErrorCode::Internal, 0, "seccomp: no argument %u", r.arg);
    uint32_t lo = static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * r.arg);
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(r.nr), 0, 5));
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, lo));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(r.value), 0, 2));
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, lo + 4));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(r.value >> 32), 2, 0));
    prog.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0));  // over the ALLOW
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  auto allow = [&](int nr) {
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  };
  for (int nr : kAllowed) allow(nr);
  for (int nr : backend_syscalls) allow(nr);
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "seccomp");
  }
  return true;
}

int SeccompSelfTest(std::span<const int> backend_syscalls, std::span<const SeccompArgRule> arg_rules) {
  Failure why;
  if (!Confine(backend_syscalls, 0, &why, arg_rules)) {
    fprintf(stderr, "seccomp selftest: cannot confine: %s\n", why.message.c_str());
    return 2;
  }
  auto outcome = [](long r) { return r >= 0 ? "allowed" : strerror(errno); };
  int fd = open("/etc/hostname", O_RDONLY);
  int open_errno = fd < 0 ? errno : 0;
  pid_t pid = getpid();  // allowed
  printf("open: %s\ngetpid: %s\n", fd < 0 ? strerror(open_errno) : "allowed", pid > 0 ? "allowed" : "refused");
  bool ok = fd < 0 && open_errno == EPERM && pid > 0;
  for (const SeccompArgRule& r : arg_rules) {
    if (r.nr == SYS_openat && r.arg == 1) {
      const char* path = reinterpret_cast<const char*>(r.value);
      char copy[256];
      snprintf(copy, sizeof copy, "%s", path);
      long at = syscall(SYS_openat, static_cast<long>(AT_FDCWD), path, static_cast<long>(O_RDONLY | O_CLOEXEC));
      printf("openat %s at its address: %s\n", path, outcome(at));
      ok = ok && at >= 0;
      long elsewhere = syscall(SYS_openat, static_cast<long>(AT_FDCWD), copy, static_cast<long>(O_RDONLY | O_CLOEXEC));
      printf("openat %s elsewhere: %s\n", copy, outcome(elsewhere));
      ok = ok && elsewhere < 0 && errno == EPERM;
    } else if (r.nr == SYS_userfaultfd && r.arg == 0) {
      long listed = syscall(SYS_userfaultfd, static_cast<long>(r.value));
      printf("userfaultfd 0x%llx: %s\n", static_cast<unsigned long long>(r.value), outcome(listed));
      long other = syscall(SYS_userfaultfd, static_cast<long>(r.value | O_NONBLOCK));
      printf("userfaultfd 0x%llx (not listed): %s\n", static_cast<unsigned long long>(r.value | O_NONBLOCK), outcome(other));
      ok = ok && listed >= 0 && other < 0 && errno == EPERM;
    } else if (r.nr == SYS_ioctl && r.arg == 1) {
      long listed = syscall(SYS_ioctl, -1L, static_cast<unsigned long>(r.value), 0L);
      printf("ioctl 0x%llx: %s\n", static_cast<unsigned long long>(r.value), outcome(listed));
      ok = ok && listed < 0 && errno == EBADF;
      long other = syscall(SYS_ioctl, -1L, static_cast<unsigned long>(r.value) ^ 0x100ul, 0L);  // another command
      printf("ioctl 0x%llx (not listed): %s\n", static_cast<unsigned long long>(r.value ^ 0x100), outcome(other));
      ok = ok && other < 0 && errno == EPERM;
    }
  }
  fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace pvm::monitor
