// Control protocol between the host (the N-API addon) and a monitor process.
//
// One AF_UNIX SOCK_SEQPACKET socket per monitor: every datagram is one message, a
// CtlHeader followed by the type's fixed struct and then (for some types) a variable
// tail. File descriptors travel as SCM_RIGHTS on the message that needs them.
// Both ends are C++ in this package, so this header is the one definition.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pvm::ctl {

// Largest datagram either side sends (console chunks are cut to fit).
constexpr size_t kMaxMessage = 64 * 1024;
// The monitor's control socket is always this fd (set up by the host before exec).
constexpr int kControlFd = 3;

enum class Type : uint32_t {
  // host -> monitor
  Boot = 1,  // Boot + tail "arg0\0arg1\0..."; SCM_RIGHTS: [image fd, registry memfd (common/registry.h)]
  Fork = 2,  // ForkRequest: fork the pVM at its next exit; answered by Forked
  ExecImage = 4,  // ExecImage: the answer to ExecRequest; SCM_RIGHTS: [image fd] if error == 0
  Exec = 5,       // Exec + tail "arg0\0...": replace the image; SCM_RIGHTS: [image fd];
                  // answered by Execed
  Attach = 3,  // AttachRequest; SCM_RIGHTS: [channel memfd, own doorbell, peer doorbell,
               // (peer's pidfd)], or [region memfd] with kAttachShm; answered by Attached
  // monitor -> host
  Ready = 100,    // CtlReady: image loaded, about to enter the guest
  Started = 101,  // CtlStarted: the guest's first exit (it has run)
  Console = 102,  // tail: raw console bytes
  Exit = 103,     // CtlExit: the pVM ended (normal exit or fault); monitor exits next
  Error = 104,    // CtlError + tail: message text; a boot failed, monitor exits next
  Forked = 105,   // Forked: a fork (asked by the host or the guest) is done or failed.
                  // SCM_RIGHTS on success: [child control socket, child pidfd] and, for a
                  // host fork, [channel memfd, host doorbell, child doorbell]
  Attached = 106, // Attached: a channel the host gave is in the guest's table (or not)
  ExecRequest = 107,  // ExecRequest + tail "path\0arg0\0...": the guest asks to exec
  Execed = 108,       // Execed: an exec (the host's or the guest's) is done or failed
  Spare = 109,        // Spare: the pVM's warm spare now (pid 0: none)
  // monitor -> its own warm spare (never the host)
  Activate = 200,     // Activate (fork.cc): become the child, now
  SparePieces = 201,  // SCM_RIGHTS: [child control socket, (channel memfd, doorbell A, B)]
};

struct Header {
  Type type;
  uint32_t size;  // bytes after the header (fixed struct + tail)
};

struct Boot {
  uint64_t id;
  uint64_t parent_id;
  uint64_t ram_size;   // bytes, already validated by the host; the monitor re-checks
  uint64_t spawn_ns;   // CLOCK_MONOTONIC when the host began the spawn (for timings)
  uint32_t argc;       // number of NUL-terminated strings in the tail
  uint32_t flags;      // kBoot*
};
// The monitor was started ahead of time (a spawn pool): its start time is the Boot's.
constexpr uint32_t kBootPooled = 1;
// Keep a warm spare for fast forks (dirty logging on guest RAM).
constexpr uint32_t kBootForkSpares = 2;

struct ForkRequest {
  uint64_t tag;  // echoed in Forked; non-zero
};

struct AttachRequest {
  uint64_t tag;      // echoed in Attached
  uint64_t peer_id;  // the other end's pVM id, 0 for the host
  uint32_t side;     // PVM_CHANNEL_SIDE_A or _B
  uint32_t flags;    // kAttachShm: a shared-memory region, not a channel
};
constexpr uint32_t kAttachShm = 1;

struct Attached {
  uint64_t tag;
  int64_t error;  // 0, or -errno (EAGAIN: no free slot)
  uint32_t slot;
  uint32_t reserved;
};

struct ExecRequest {
  uint64_t ram_size;  // 0: the same
  uint32_t argc;      // strings in the tail after the path
  uint32_t reserved;
};

struct ExecImage {
  int64_t error;  // 0, or -errno (ENOENT: not found or not allowed)
};

struct Exec {
  uint64_t tag;       // echoed in Execed; non-zero
  uint64_t ram_size;  // 0: the same
  uint32_t argc;      // strings in the tail
  uint32_t reserved;
};

struct Execed {        // + tail: why it failed, readable
  uint64_t tag;       // the Exec's, or 0 for a guest's EXEC
  int64_t error;      // 0, or -PVM_Exxx (the guest's errno values): the old image runs on
  uint32_t code;      // an ErrorCode when error != 0
  uint32_t reserved;
  uint64_t start_ns;  // CLOCK_MONOTONIC: the vCPU stopped for the exec
  uint64_t ready_ns;  // the new image is about to run
};

struct Forked {
  uint64_t tag;             // the ForkRequest's, or 0 for a fork the guest made
  int64_t error;            // 0, or -errno: nothing was created and the parent goes on
  uint64_t child_id;
  uint64_t child_pid;
  uint64_t pause_start_ns;  // CLOCK_MONOTONIC: the parent's vCPU stopped for the fork
  uint64_t resume_ns;       // the parent's vCPU about to run again
  uint32_t channel_slot;    // the child's slot of its channel to the forker
  uint32_t host_channel;    // 1: the channel's other end is the host (fds attached)
  uint32_t via_spare;       // 1: a warm spare became the child
  uint32_t fallback;        // kFork*: why it went the way it went
  uint64_t copied_pages;    // pages copied into the spare
};

enum : uint32_t {
  kForkViaSpare = 0,     // through the spare
  kForkSparesOff = 1,    // a plain fork: this pVM has no spares
  kForkNoSpare = 2,      // a plain fork: none was ready
  kForkTooDirty = 3,     // a plain fork: too much written since the spare was made
  kForkSpareFailed = 4,  // a plain fork: handing over to the spare failed
};

struct Spare {
  uint64_t pid;  // 0: none
};

// A pVM signal (KILL hypercall, host kill with SIGUSR1/2) travels from one monitor to
// another as this real-time signal, with the pVM signal number as its value.
constexpr int kPvmSignalAfterRtMin = 2;

struct Ready {
  uint64_t pid;
  uint64_t monitor_start_ns;  // CLOCK_MONOTONIC at monitor main() (a fork: its pause start)
  uint64_t vm_ready_ns;       // VM, memory, vCPU and image/state ready; next is KVM_RUN
  char backend[16];            // the backend's name, NUL-padded ("kvm")
  uint32_t backend_flags;      // backend-specific; kvm: kReadyKvmPvm
  uint32_t reserved;
};
// Ready::backend_flags of kvm: the kvm_pvm software flavour runs the guest.
constexpr uint32_t kReadyKvmPvm = 1u << 0;

struct Started {
  uint64_t first_exit_ns;  // CLOCK_MONOTONIC when the guest's first exit came back
};

enum class ExitKind : uint32_t {
  Code = 0,   // the guest called EXIT(code)
  Fault = 1,  // the guest faulted; see FaultKind
  Killed = 2, // the host ended it (code = the signal, SIGTERM)
};

enum class FaultKind : uint32_t {
  None = 0,
  Exception = 1,      // CPU exception; vector, error_code, rip, address (CR2 for #PF)
  TripleFault = 2,    // shutdown without a recorded exception
  BadHypercall = 3,   // unknown hypercall number (address = number)
  BadIo = 4,          // port I/O other than the hypercall port (address = port)
  BadMemory = 5,      // access outside guest RAM (MMIO exit; address = GPA)
  Internal = 6,       // KVM reported an internal error / failed entry
};

struct Exit {
  ExitKind kind;
  int32_t code;         // exit code when kind == Code
  FaultKind fault;
  uint32_t vector;      // exception vector when fault == Exception, else 0xffffffff
  uint64_t error_code;  // exception error code (if the vector has one)
  uint64_t rip;
  uint64_t address;     // see FaultKind
  uint64_t exit_ns;     // CLOCK_MONOTONIC when the pVM ended
  char reason[160];     // readable, NUL-terminated, e.g. "page fault (#PF) at rip 0x2001a3 ..."
};

enum class ErrorCode : uint32_t {
  BadImage = 1,        // not a loadable static ELF64 x86-64 image
  ImageTooLarge = 2,   // segments do not fit the guest RAM
  NoMemory = 3,        // could not allocate guest RAM
  KvmUnavailable = 4,  // /dev/kvm missing or unusable
  BadConfig = 5,       // RAM size or arguments out of range
  Internal = 6,        // an unexpected ioctl failure
  AbiMismatch = 7,     // the image's pvm ABI note is missing or names another version
};

struct Error {
  ErrorCode code;
  int32_t sys_errno;  // errno behind it, 0 if none
};

}  // namespace pvm::ctl
