// Running the guest inside the monitor process: entering it (switch.S), and the signals
// that bring it back: kicks (the core's kick signals) and faults. One guest per
// process, and the monitor is single-threaded: the state here is global on purpose.
#pragma once

#include <signal.h>

#include <cstdint>

#include "monitor/backends/process/context.h"
#include "monitor/backends/process/fault_decode.h"
#include "monitor/failure.h"

namespace pvm::monitor::process {

struct SignalConfig {
  sigset_t kick;                        // signals that interrupt a running guest
  uint64_t guest_lo = 0, guest_hi = 0;  // [lo, hi): every guest address
};

// Once, before the first Enter, after the core installed its own kick handlers (they
// are chained to): an alternate stack (so a guest stack overflow is caught), handlers
// for the kick signals and SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP/SIGSYS. The caller keeps
// the kick signals blocked; Enter lets them through only while the guest runs.
bool InstallSignals(const SignalConfig& config, Failure* why);

// The guest at its first instruction: rip, rsp, rdi; every other register 0.
void InitContext(proc_ctx* ctx, uint64_t rip, uint64_t rsp, uint64_t rdi);
// A context saved by another monitor process (a snapshot): FS/GS base as InitContext
// sets them here (the saved ones are that process's, and pvm guests have no TLS).
void AdoptContext(proc_ctx* ctx);

// Makes the kick signals really blocked now (one sigprocmask unless they already are):
// outside the guest they are blocked only lazily, when the first one arrives.
void SettleKicks();

// Runs the guest until it stops: PROC_EXIT_HYPERCALL, PROC_EXIT_INTERRUPTED (the kick
// is pending and blocked again, as after KVM_RUN's EINTR) or PROC_EXIT_EXCEPTION
// (LastFault()).
int Enter(proc_ctx* ctx);
const GuestFault& LastFault();

// The address the runtime calls instead of the port write (boot info hypercall_entry).
uint64_t HypercallEntryAddress();
// Whether the guest can change its FS/GS base itself (FSGSBASE usable in user mode).
bool FsGsBaseUsable();
// A Linux program's personality entry (0: none): a `syscall` the guest makes (the
// seccomp filter's SIGSYS) resumes there with rcx, r11 as `syscall` left them, instead
// of ending the pVM as a raw system call.
void SetLinuxSyscallEntry(uint64_t entry);

}  // namespace pvm::monitor::process
