// The monitor confines itself once its pVM is set up: no new privileges, and a seccomp
// filter that lets through only the system calls a running monitor makes (its sockets,
// memory for channels and exec, fork for pVM fork, signals to its family, and what its
// backend adds: KVM's ioctls, ...).
// Anything else fails with EPERM: a monitor taken over by a hostile guest cannot open
// files, connect anywhere or exec programs. Forked monitors inherit the filter.
#pragma once

#include <cstdint>
#include <span>

#include "monitor/failure.h"

namespace pvm::monitor {

// A system call allowed only when one of its arguments is one value (all 64 bits): a
// backend's narrow additions (Backend::seccomp_arg_rules; process: ioctl with the dirty
// log's commands only). Several rules for one call: any of them lets it through.
struct SeccompArgRule {
  int nr;
  uint32_t arg;  // 0..5
  uint64_t value;
};

// backend_syscalls: the backend's additions (BackendEntry::seccomp_additions).
// guest_code_limit: Backend::guest_code_limit(); where not 0, a system call made from an
// instruction below it is the guest's and gets SECCOMP_RET_TRAP (SIGSYS, which the
// backend turns into a fault) whatever its number or ABI; it never reaches the host.
// arg_rules: the backend's calls allowed with one argument value only.
bool Confine(std::span<const int> backend_syscalls, uint64_t guest_code_limit, Failure* why,
             std::span<const SeccompArgRule> arg_rules = {});

// --seccomp-selftest [--backend=NAME]: confine (with that backend's additions and
// argument rules), then try a forbidden call (opening a file) and an allowed one; for
// each openat rule, its path at the allowed address and a copy of it elsewhere; for
// each userfaultfd rule, its flags and others; for
// each ioctl rule, its command (on no fd: EBADF, past the filter) and one not listed.
// Prints what happened and returns 0 if the filter did exactly that.
int SeccompSelfTest(std::span<const int> backend_syscalls, std::span<const SeccompArgRule> arg_rules);

}  // namespace pvm::monitor
