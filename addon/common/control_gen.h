// GENERATED from addon/common/control.json by scripts/gen-control.mjs (npm run gen). Do not edit.
// One AF_UNIX SOCK_SEQPACKET socket per monitor: every datagram is one message, a Header followed by the type's fixed struct and then (for some types) a variable tail. File descriptors travel as SCM_RIGHTS on the message that needs them. Both ends are C++ in this package.
// Errors: One errno space on the wire: every `error` field carries 0 or the negated value of an error of hypercalls/abi.json (`errors`), never a host errno. The monitor and the addon turn a host errno into one with pvm::WireErrno (addon/common/wire_errno.h), the only place that does; the library turns one into a PvmError code with wireErrorCode (lib/generated/control.ts, from the pvmErrors table here), the only place that does. The guest sees the same numbers (its errno.h is generated from the same list).
#pragma once

#include <cstddef>
#include <cstdint>

#include "pvm/abi.h"

namespace pvm::ctl {

// Largest datagram either side sends (console chunks are cut to fit).
constexpr size_t kMaxMessage = 0x10000;
// The monitor's control socket is always this fd (set up by the host before exec).
constexpr int kControlFd = 3;
// A pVM signal (KILL hypercall, host kill with SIGUSR1/2) travels from one monitor to another as this real-time signal (SIGRTMIN + value), with the pVM signal number as its value.
constexpr int kPvmSignalAfterRtMin = 2;
// Exit.vector when there is no exception vector (JS sees -1).
constexpr uint32_t kNoVector = 0xffffffff;

enum class Type : uint32_t {
  // from the host
  Boot = 1,  // Boot + tail "arg0\0arg1\0..." then, with kBootEnv, envc "K=v\0" strings; SCM_RIGHTS: [image fd, registry memfd (common/registry.h), (files archive fd with kBootFiles)]
  Fork = 2,  // fork the pVM at its next exit; answered by Forked
  Attach = 3,  // SCM_RIGHTS: [channel memfd, own doorbell, peer doorbell, (peer's pidfd)], or [region memfd] with kAttachShm; answered by Attached
  ExecImage = 4,  // the answer to ExecRequest; SCM_RIGHTS: [image fd] if error == 0
  Exec = 5,  // Exec + tail "arg0\0...": replace the image; SCM_RIGHTS: [image fd]; answered by Execed
  Snapshot = 30,  // write the pVM's state to the file (monitor/snapshot_file.h) at its next clean exit; tail: the image path (text, stored for ps); SCM_RIGHTS: [file fd, open for writing, empty]; answered by Snapshotted
  Reset = 6,  // rewind a fork child to its fork point at its next exit (monitor/reset.h); answered by ResetDone
  Stdin = 7,  // StdinData + tail: bytes of the guest's standard input (STDIN_READ: a Linux program's fd 0), kept by the monitor in order until read; with kStdinEnd, the end of input after them. Not answered.
  // from the monitor
  Ready = 100,  // image loaded, about to enter the guest
  Started = 101,  // the guest's first exit (it has run)
  Console = 102,  // tail: raw console bytes
  Exit = 103,  // the pVM ended (normal exit or fault); monitor exits next
  Error = 104,  // Error + tail: message text; a boot failed, monitor exits next
  Forked = 105,  // a fork (asked by the host or the guest) is done or failed. SCM_RIGHTS on success: [child control socket, child pidfd] and, for a host fork, [channel memfd, host doorbell, child doorbell]
  Attached = 106,  // a channel the host gave is in the guest's table (or not)
  ExecRequest = 107,  // ExecRequest + tail "path\0arg0\0...": the guest asks to exec
  Execed = 108,  // Execed + tail (why it failed, readable): an exec (the host's or the guest's) is done or failed
  ResetDone = 110,  // a reset (the host's Reset, or the guest's RESET hypercall: tag 0) is done or failed
  Spare = 109,  // the pVM's warm spare now (pid 0: none)
  Snapshotted = 130,  // Snapshotted + tail (why it failed, readable): a snapshot is written, or failed (the pVM runs on either way)
  // from a monitor to its own warm spare (never the host)
  Activate = 200,  // (fork.cc's own struct) become the child, now
  SparePieces = 201,  // SCM_RIGHTS: [child control socket, (channel memfd, doorbell A, B)]
};

// How a pVM ended; the same numbers as abi.json waitStatus kinds (what WAITPID reports).
enum class ExitKind : uint32_t {
  Code = 0,  // the guest called EXIT(code)
  Fault = 1,  // the guest faulted; see FaultKind
  Killed = 2,  // the host ended it (code = the signal, SIGTERM)
};
static_assert(static_cast<uint32_t>(ExitKind::Code) == PVM_WAIT_EXIT, "the WAITPID kind numbers");
static_assert(static_cast<uint32_t>(ExitKind::Fault) == PVM_WAIT_FAULT, "the WAITPID kind numbers");
static_assert(static_cast<uint32_t>(ExitKind::Killed) == PVM_WAIT_KILLED, "the WAITPID kind numbers");
// Why the monitor stopped a guest.
enum class FaultKind : uint32_t {
  None = 0,  // not a fault
  Exception = 1,  // CPU exception; vector, error_code, rip, address (CR2 for #PF)
  TripleFault = 2,  // shutdown without a recorded exception
  BadHypercall = 3,  // unknown hypercall number (address = number)
  BadIo = 4,  // port I/O other than the hypercall port (address = port)
  BadMemory = 5,  // access outside guest RAM (address = GPA)
  Internal = 6,  // the backend reported an internal error / failed entry
};
// Why a boot or an exec failed (Error.code, Execed.code); pvmError is the PvmError code the library throws.
enum class ErrorCode : uint32_t {
  None = 0,  // no error (Execed.code of an exec that worked)
  BadImage = 1,  // not a loadable static ELF64 x86-64 image
  ImageTooLarge = 2,  // segments do not fit the guest RAM
  NoMemory = 3,  // could not allocate guest RAM
  BackendUnavailable = 4,  // the backend cannot run here (kvm: /dev/kvm missing or unusable; ENOKVM keeps its name for kvm)
  BadConfig = 5,  // RAM size or arguments out of range
  Internal = 6,  // an unexpected failure of the backend or the host
  AbiMismatch = 7,  // the image was built for another pVM ABI version
  BadSnapshot = 16,  // a spawn from a snapshot file that cannot be loaded here (Error.detail: SnapshotFault)
};
// Error.detail of BadSnapshot: what is wrong with the snapshot file (PvmError.reason).
enum : uint32_t {
  kSnapshotOk = 0,  // no snapshot problem
  kSnapshotTruncated = 1,  // shorter (or longer) than its header says
  kSnapshotChecksum = 2,  // its checksum does not match its bytes (corrupted)
  kSnapshotMagic = 3,  // not a pvm snapshot (no magic)
  kSnapshotVersion = 4,  // another snapshot format version
  kSnapshotBackend = 5,  // made on another backend (or KVM flavour) than this host's
  kSnapshotAbi = 6,  // made by a pvm of another guest ABI version
  kSnapshotMalformed = 7,  // a header field out of range, or a vCPU state that does not load
  kSnapshotUnreadable = 8,  // the file could not be read or mapped
};
// Forked.fallback: how a fork went, through the spare or why not; or the backend's own way (xen).
enum : uint32_t {
  kForkViaSpare = 0,  // through the spare
  kForkSparesOff = 1,  // a plain fork: this pVM has no spares
  kForkNoSpare = 2,  // a plain fork: none was ready
  kForkTooDirty = 3,  // a plain fork: too much written since the spare was made
  kForkSpareFailed = 4,  // a plain fork: handing over to the spare failed
  kForkCopy = 5,  // xen: a new domain got a copy of the parent's RAM and vCPU (no memory sharing)
  kForkMemshr = 6,  // xen: the parent's domain became a frozen template; parent and child run on as forks of it sharing its pages (xc_memshr_fork)
};

constexpr uint32_t kBootPooled = 1;  // Boot.flags: The monitor was started ahead of time (a spawn pool): its start time is the Boot's.
constexpr uint32_t kBootForkSpares = 2;  // Boot.flags: Keep a warm spare for fast forks (dirty logging on guest RAM).
constexpr uint32_t kBootSameClones = 4;  // Boot.flags: Fork children keep their parent's entropy and generation (uniqueClones: false).
constexpr uint32_t kBootFiles = 8;  // Boot.flags: A third fd follows: the pVM's files, an archive (hypercalls/linux/handoff.h) a Linux program's personality serves as its filesystem.
constexpr uint32_t kBootEnv = 16;  // Boot.flags: The tail has Boot.envc environment strings after the arguments: the whole environment (boot-info envp/envc with the ENV boot flag). Without it a Linux program gets the default PATH/HOME/TERM.
constexpr uint32_t kBootStdin = 32;  // Boot.flags: Standard input is open: the host writes it with Stdin messages, the last with kStdinEnd. Without it standard input is at its end from the start.
constexpr uint32_t kBootStdinWhole = 64;  // Boot.flags: With kBootStdin: the whole input (Stdin messages up to kStdinEnd) follows the Boot message at once; the monitor takes all of it before the guest's first instruction.
constexpr uint32_t kStdinEnd = 1;  // StdinData.flags: The end of standard input: nothing follows.
constexpr uint32_t kBootSnapshot = 256;  // Boot.flags: The image fd is a snapshot file (monitor/snapshot_file.h): RAM, vCPU and argv come from it; ram_size and the tail are ignored (0, none).
constexpr uint32_t kAttachShm = 1;  // AttachRequest.flags: A shared-memory region, not a channel.
constexpr uint32_t kReadyKvmPvm = 1;  // Ready.backend_flags: kvm: the kvm_pvm software flavour was detected.
constexpr uint32_t kReadyLinux = 1;  // Ready.image_flags: The image is a static Linux program (the Linux personality serves it); a fork child's is its parent's.

// Starts every datagram.
struct Header {
  Type type;
  uint32_t size;  // bytes after the header (fixed struct + tail)
};
static_assert(sizeof(Header) == 8, "Header layout");
static_assert(offsetof(Header, type) == 0, "Header layout");
static_assert(offsetof(Header, size) == 4, "Header layout");

// Start the pVM.
struct Boot {
  uint64_t id;
  uint64_t parent_id;
  uint64_t ram_size;  // bytes, already validated by the host; the monitor re-checks
  uint64_t spawn_ns;  // CLOCK_MONOTONIC when the host began the spawn (for timings)
  uint32_t argc;  // number of NUL-terminated strings in the tail
  uint32_t flags;  // kBoot*
  uint32_t envc;  // with kBootEnv: environment strings in the tail after the arguments
  uint32_t reserved;
};
static_assert(sizeof(Boot) == 48, "Boot layout");
static_assert(offsetof(Boot, id) == 0, "Boot layout");
static_assert(offsetof(Boot, parent_id) == 8, "Boot layout");
static_assert(offsetof(Boot, ram_size) == 16, "Boot layout");
static_assert(offsetof(Boot, spawn_ns) == 24, "Boot layout");
static_assert(offsetof(Boot, argc) == 32, "Boot layout");
static_assert(offsetof(Boot, flags) == 36, "Boot layout");
static_assert(offsetof(Boot, envc) == 40, "Boot layout");
static_assert(offsetof(Boot, reserved) == 44, "Boot layout");

// Fork the pVM.
struct ForkRequest {
  uint64_t tag;  // echoed in Forked; non-zero
};
static_assert(sizeof(ForkRequest) == 8, "ForkRequest layout");
static_assert(offsetof(ForkRequest, tag) == 0, "ForkRequest layout");

// Put a channel (or a shared region) in the guest's table.
struct AttachRequest {
  uint64_t tag;  // echoed in Attached
  uint64_t peer_id;  // the other end's pVM id, 0 for the host
  uint32_t side;  // PVM_CHANNEL_SIDE_A or _B
  uint32_t flags;  // kAttachShm: a shared-memory region, not a channel
};
static_assert(sizeof(AttachRequest) == 24, "AttachRequest layout");
static_assert(offsetof(AttachRequest, tag) == 0, "AttachRequest layout");
static_assert(offsetof(AttachRequest, peer_id) == 8, "AttachRequest layout");
static_assert(offsetof(AttachRequest, side) == 16, "AttachRequest layout");
static_assert(offsetof(AttachRequest, flags) == 20, "AttachRequest layout");

// The answer to AttachRequest.
struct Attached {
  uint64_t tag;
  int64_t error;  // 0, or -wire errno (EAGAIN: no free slot)
  uint32_t slot;
  uint32_t reserved;
};
static_assert(sizeof(Attached) == 24, "Attached layout");
static_assert(offsetof(Attached, tag) == 0, "Attached layout");
static_assert(offsetof(Attached, error) == 8, "Attached layout");
static_assert(offsetof(Attached, slot) == 16, "Attached layout");
static_assert(offsetof(Attached, reserved) == 20, "Attached layout");

// The guest asks to exec (the host answers with ExecImage).
struct ExecRequest {
  uint64_t ram_size;  // 0: the same
  uint32_t argc;  // strings in the tail after the path
  uint32_t reserved;
};
static_assert(sizeof(ExecRequest) == 16, "ExecRequest layout");
static_assert(offsetof(ExecRequest, ram_size) == 0, "ExecRequest layout");
static_assert(offsetof(ExecRequest, argc) == 8, "ExecRequest layout");
static_assert(offsetof(ExecRequest, reserved) == 12, "ExecRequest layout");

// The host's answer to ExecRequest.
struct ExecImage {
  int64_t error;  // 0, or -wire errno (ENOENT: not found or not allowed)
};
static_assert(sizeof(ExecImage) == 8, "ExecImage layout");
static_assert(offsetof(ExecImage, error) == 0, "ExecImage layout");

// The host replaces the image.
struct Exec {
  uint64_t tag;  // echoed in Execed; non-zero
  uint64_t ram_size;  // 0: the same
  uint32_t argc;  // strings in the tail
  uint32_t reserved;
};
static_assert(sizeof(Exec) == 24, "Exec layout");
static_assert(offsetof(Exec, tag) == 0, "Exec layout");
static_assert(offsetof(Exec, ram_size) == 8, "Exec layout");
static_assert(offsetof(Exec, argc) == 16, "Exec layout");
static_assert(offsetof(Exec, reserved) == 20, "Exec layout");

// An exec is done or failed.
struct Execed {
  uint64_t tag;  // the Exec's, or 0 for a guest's EXEC
  int64_t error;  // 0, or -wire errno (what the guest's EXEC returns): the old image runs on
  ErrorCode code;  // why, when error != 0
  uint32_t image_flags;  // the new image's, as Ready's (kReadyLinux)
  uint64_t start_ns;  // CLOCK_MONOTONIC: the vCPU stopped for the exec
  uint64_t ready_ns;  // the new image is about to run
};
static_assert(sizeof(Execed) == 40, "Execed layout");
static_assert(offsetof(Execed, tag) == 0, "Execed layout");
static_assert(offsetof(Execed, error) == 8, "Execed layout");
static_assert(offsetof(Execed, code) == 16, "Execed layout");
static_assert(offsetof(Execed, image_flags) == 20, "Execed layout");
static_assert(offsetof(Execed, start_ns) == 24, "Execed layout");
static_assert(offsetof(Execed, ready_ns) == 32, "Execed layout");

// A fork is done or failed.
struct Forked {
  uint64_t tag;  // the ForkRequest's, or 0 for a fork the guest made
  int64_t error;  // 0, or -wire errno: nothing was created and the parent goes on
  uint64_t child_id;
  uint64_t child_pid;
  uint64_t pause_start_ns;  // CLOCK_MONOTONIC: the parent's vCPU stopped for the fork
  uint64_t resume_ns;  // the parent's vCPU about to run again
  uint32_t channel_slot;  // the child's slot of its channel to the forker (abi noChannel: none)
  uint32_t host_channel;  // 1: the channel's other end is the host (fds attached)
  uint32_t via_spare;  // 1: a warm spare became the child
  uint32_t fallback;  // kFork*: why it went the way it went
  uint64_t copied_pages;  // pages copied into the spare
};
static_assert(sizeof(Forked) == 72, "Forked layout");
static_assert(offsetof(Forked, tag) == 0, "Forked layout");
static_assert(offsetof(Forked, error) == 8, "Forked layout");
static_assert(offsetof(Forked, child_id) == 16, "Forked layout");
static_assert(offsetof(Forked, child_pid) == 24, "Forked layout");
static_assert(offsetof(Forked, pause_start_ns) == 32, "Forked layout");
static_assert(offsetof(Forked, resume_ns) == 40, "Forked layout");
static_assert(offsetof(Forked, channel_slot) == 48, "Forked layout");
static_assert(offsetof(Forked, host_channel) == 52, "Forked layout");
static_assert(offsetof(Forked, via_spare) == 56, "Forked layout");
static_assert(offsetof(Forked, fallback) == 60, "Forked layout");
static_assert(offsetof(Forked, copied_pages) == 64, "Forked layout");

// Write a snapshot of the pVM.
struct SnapshotRequest {
  uint64_t tag;  // echoed in Snapshotted; non-zero
};
static_assert(sizeof(SnapshotRequest) == 8, "SnapshotRequest layout");
static_assert(offsetof(SnapshotRequest, tag) == 0, "SnapshotRequest layout");

// A snapshot is written or failed.
struct Snapshotted {
  uint64_t tag;
  int64_t error;  // 0, or -wire errno (ENOSPC and the like arrive as ENOMEM)
  uint64_t bytes;  // the file's size
  uint64_t pages;  // RAM pages (4 KiB) stored: those that are not zero
  uint64_t pause_start_ns;  // CLOCK_MONOTONIC: the vCPU stopped for the snapshot
  uint64_t resume_ns;  // the file written, the vCPU about to run again
};
static_assert(sizeof(Snapshotted) == 48, "Snapshotted layout");
static_assert(offsetof(Snapshotted, tag) == 0, "Snapshotted layout");
static_assert(offsetof(Snapshotted, error) == 8, "Snapshotted layout");
static_assert(offsetof(Snapshotted, bytes) == 16, "Snapshotted layout");
static_assert(offsetof(Snapshotted, pages) == 24, "Snapshotted layout");
static_assert(offsetof(Snapshotted, pause_start_ns) == 32, "Snapshotted layout");
static_assert(offsetof(Snapshotted, resume_ns) == 40, "Snapshotted layout");

// Rewind the pVM to its fork point.
struct ResetRequest {
  uint64_t tag;  // echoed in ResetDone; non-zero
};
static_assert(sizeof(ResetRequest) == 8, "ResetRequest layout");
static_assert(offsetof(ResetRequest, tag) == 0, "ResetRequest layout");

// Bytes of the guest's standard input (the tail).
struct StdinData {
  uint32_t flags;  // kStdinEnd
  uint32_t reserved;
};
static_assert(sizeof(StdinData) == 8, "StdinData layout");
static_assert(offsetof(StdinData, flags) == 0, "StdinData layout");
static_assert(offsetof(StdinData, reserved) == 4, "StdinData layout");

// A reset is done or failed.
struct ResetDone {
  uint64_t tag;  // the ResetRequest's, or 0 for the guest's RESET hypercall
  int64_t error;  // 0, or -wire errno: EINVAL (no fork point: not a fork child, or it exec'ed since), ENOSYS (the backend cannot), ENOMEM; the pVM runs on untouched
  uint64_t pages;  // 4 KiB pages copied back from the fork point
  uint64_t start_ns;  // CLOCK_MONOTONIC: the vCPU stopped for the reset
  uint64_t done_ns;  // the vCPU about to run again from its fork point
};
static_assert(sizeof(ResetDone) == 40, "ResetDone layout");
static_assert(offsetof(ResetDone, tag) == 0, "ResetDone layout");
static_assert(offsetof(ResetDone, error) == 8, "ResetDone layout");
static_assert(offsetof(ResetDone, pages) == 16, "ResetDone layout");
static_assert(offsetof(ResetDone, start_ns) == 24, "ResetDone layout");
static_assert(offsetof(ResetDone, done_ns) == 32, "ResetDone layout");

// The pVM's warm spare.
struct Spare {
  uint64_t pid;  // 0: none
};
static_assert(sizeof(Spare) == 8, "Spare layout");
static_assert(offsetof(Spare, pid) == 0, "Spare layout");

// Image loaded, about to enter the guest.
struct Ready {
  uint64_t pid;
  uint64_t monitor_start_ns;  // CLOCK_MONOTONIC at monitor main() (a fork: its pause start)
  uint64_t vm_ready_ns;  // VM, memory, vCPU and image/state ready; next is the guest's first run
  char backend[16];  // the backend's name, NUL-terminated ("kvm")
  uint32_t backend_flags;  // backend-specific (kvm: kReadyKvmPvm)
  uint32_t image_flags;  // what the running image is (kReadyLinux)
};
static_assert(sizeof(Ready) == 48, "Ready layout");
static_assert(offsetof(Ready, pid) == 0, "Ready layout");
static_assert(offsetof(Ready, monitor_start_ns) == 8, "Ready layout");
static_assert(offsetof(Ready, vm_ready_ns) == 16, "Ready layout");
static_assert(offsetof(Ready, backend) == 24, "Ready layout");
static_assert(offsetof(Ready, backend_flags) == 40, "Ready layout");
static_assert(offsetof(Ready, image_flags) == 44, "Ready layout");

// The guest has run.
struct Started {
  uint64_t first_exit_ns;  // CLOCK_MONOTONIC when the guest's first exit came back
};
static_assert(sizeof(Started) == 8, "Started layout");
static_assert(offsetof(Started, first_exit_ns) == 0, "Started layout");

// The pVM ended.
struct Exit {
  ExitKind kind;
  int32_t code;  // exit code when kind == Code
  FaultKind fault;
  uint32_t vector;  // exception vector when fault == Exception, else kNoVector
  uint64_t error_code;  // exception error code (if the vector has one)
  uint64_t rip;
  uint64_t address;  // see FaultKind
  uint64_t exit_ns;  // CLOCK_MONOTONIC when the pVM ended
  char reason[160];  // readable, NUL-terminated, e.g. "page fault (#PF) at rip 0x2001a3 ..."
};
static_assert(sizeof(Exit) == 208, "Exit layout");
static_assert(offsetof(Exit, kind) == 0, "Exit layout");
static_assert(offsetof(Exit, code) == 4, "Exit layout");
static_assert(offsetof(Exit, fault) == 8, "Exit layout");
static_assert(offsetof(Exit, vector) == 12, "Exit layout");
static_assert(offsetof(Exit, error_code) == 16, "Exit layout");
static_assert(offsetof(Exit, rip) == 24, "Exit layout");
static_assert(offsetof(Exit, address) == 32, "Exit layout");
static_assert(offsetof(Exit, exit_ns) == 40, "Exit layout");
static_assert(offsetof(Exit, reason) == 48, "Exit layout");

// A boot failed.
struct Error {
  ErrorCode code;
  int32_t sys_errno;  // host errno behind it, 0 if none (informational: not a wire errno)
  uint32_t detail;  // BadSnapshot: what is wrong with the file; else kSnapshotOk
  uint32_t reserved;
};
static_assert(sizeof(Error) == 16, "Error layout");
static_assert(offsetof(Error, code) == 0, "Error layout");
static_assert(offsetof(Error, sys_errno) == 4, "Error layout");
static_assert(offsetof(Error, detail) == 8, "Error layout");
static_assert(offsetof(Error, reserved) == 12, "Error layout");

}  // namespace pvm::ctl
