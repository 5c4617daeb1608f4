// The monitor confines itself once its pVM is set up: no new privileges, and a seccomp
// filter that lets through only the system calls a running monitor makes (its sockets,
// memory for channels and exec, fork for pVM fork, signals to its family, and what its
// backend adds: KVM's ioctls, ...).
// Anything else fails with EPERM: a monitor taken over by a hostile guest cannot open
// files, connect anywhere or exec programs. Forked monitors inherit the filter.
#pragma once

#include <span>

#include "monitor/failure.h"

namespace pvm::monitor {

// backend_syscalls: the backend's additions (BackendEntry::seccomp_additions).
// guest_code_limit: Backend::guest_code_limit(); where not 0, a system call made from an
// instruction below it is the guest's and gets SECCOMP_RET_TRAP (SIGSYS, which the
// backend turns into a fault) whatever its number or ABI; it never reaches the host.
bool Confine(std::span<const int> backend_syscalls, uint64_t guest_code_limit, Failure* why);

// --seccomp-selftest: confine, then try a forbidden call (opening a file) and an
// allowed one; prints what happened and returns 0 if the filter refused the first.
int SeccompSelfTest();

}  // namespace pvm::monitor
