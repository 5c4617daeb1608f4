// GENERATED from addon/common/control.json by scripts/gen-control.mjs (npm run gen). Do not edit.
/**
 * The control protocol as the library sees it: the events the addon hands over and the
 * tables that name their numbers. Internal.
 * @internal
 * @module
 */
import type { PvmErrorCode } from '../errors.js';

/** @internal How a pVM ended; the same numbers as abi.json waitStatus kinds (what WAITPID reports). */
export type ExitKindName = 'code' | 'fault' | 'killed';
/** @internal Why the monitor stopped a guest. */
export type FaultKindName = 'none' | 'exception' | 'triple-fault' | 'bad-hypercall' | 'bad-io' | 'bad-memory' | 'internal';
/** @internal Why a boot or an exec failed (Error.code, Execed.code); pvmError is the PvmError code the library throws. */
export type ErrorCodeName = 'None' | 'BadImage' | 'ImageTooLarge' | 'NoMemory' | 'BackendUnavailable' | 'BadConfig' | 'Internal' | 'AbiMismatch' | 'BadSnapshot';
/** @internal Error.detail of BadSnapshot: what is wrong with the snapshot file (PvmError.reason). */
export type SnapshotFaultName = 'none' | 'truncated' | 'checksum' | 'magic' | 'version' | 'backend' | 'abi' | 'malformed' | 'unreadable';
/** @internal Forked.fallback: how a fork went, through the spare or why not; or the backend's own way (xen). */
export type ForkPathName = 'spare' | 'spares-off' | 'no-spare' | 'too-dirty' | 'spare-failed' | 'copy' | 'memshr';

/** @internal What the addon hands over: one event per message from a monitor, or its own. */
export type MonitorEvent =
  | { id: number; type: 'ready'; pid: number; monitorStartNs: bigint; vmReadyNs: bigint; backend: string; backendFlags: number; imageFlags: number }
  | { id: number; type: 'started'; firstExitNs: bigint }
  | { id: number; type: 'console'; data: Buffer }
  | { id: number; type: 'exit'; kind: ExitKindName; code: number; fault: FaultKindName; vector: number; errorCode: bigint; rip: bigint; address: bigint; exitNs: bigint; reason: string }
  | { id: number; type: 'error'; code: ErrorCodeName; errno: number; detail: SnapshotFaultName; message: string }
  | { id: number; type: 'forked'; tag: number; error: number; childId: number; childPid: number; pauseStartNs: bigint; resumeNs: bigint; channelSlot: number; viaSpare: boolean; path: ForkPathName; copiedPages: number; channel?: ArrayBuffer | null }
  | { id: number; type: 'attached'; tag: number; error: number; slot: number }
  | { id: number; type: 'exec-request'; ramSize: number; strings: string[] }
  | { id: number; type: 'execed'; tag: number; error: number; code: ErrorCodeName; imageFlags: number; startNs: bigint; readyNs: bigint; message: string }
  | { id: number; type: 'reset'; tag: number; error: number; pages: number; startNs: bigint; doneNs: bigint }
  | { id: number; type: 'spare'; pid: number }
  | { id: number; type: 'snapshotted'; tag: number; error: number; bytes: number; pages: number; pauseStartNs: bigint; resumeNs: bigint; message: string }
  | { id: number; type: 'closed' }
  | { id: number; type: 'ended'; statusKnown: boolean; exitStatus: number; signal: number }
  | { id: number; type: 'malformed'; messageType: number }
  | { id: number; type: 'doorbell' };

/** @internal The PvmError code of each monitor ErrorCode (a failed boot or exec). */
export const BOOT_ERROR_CODES: Readonly<Record<ErrorCodeName, PvmErrorCode>> = {
  None: 'EMONITOR',
  BadImage: 'EBADIMAGE',
  ImageTooLarge: 'EIMAGETOOLARGE',
  NoMemory: 'ENOMEM',
  BackendUnavailable: 'ENOKVM',
  BadConfig: 'EINVAL',
  Internal: 'EMONITOR',
  AbiMismatch: 'EABI',
  BadSnapshot: 'EBADSNAPSHOT',
};

/**
 * @internal One errno space on the wire: every `error` field carries 0 or the negated value of an error of hypercalls/abi.json (`errors`), never a host errno. The monitor and the addon turn a host errno into one with pvm::WireErrno (addon/common/wire_errno.h), the only place that does; the library turns one into a PvmError code with wireErrorCode (lib/generated/control.ts, from the pvmErrors table here), the only place that does. The guest sees the same numbers (its errno.h is generated from the same list).
 */
const WIRE_ERRORS: Readonly<Record<number, PvmErrorCode>> = {
  2: 'ENOENT', // ENOENT
  3: 'ESRCH', // ESRCH
  1: 'EPERM', // EPERM
  7: 'E2BIG', // E2BIG
  11: 'EAGAIN', // EAGAIN
  12: 'ENOMEM', // ENOMEM
  22: 'EINVAL', // EINVAL
  32: 'EPIPE', // EPIPE
  90: 'EMSGSIZE', // EMSGSIZE
  38: 'ENOSYS', // ENOSYS
};

/** @internal The PvmError code of a wire error (0 or -errno of abi.json), if it has one. */
export function wireErrorCode(error: number): PvmErrorCode | undefined {
  return WIRE_ERRORS[-error];
}

/** @internal Flag bits of message fields (see control.json flags). */
export const CONTROL_FLAGS = {
  kBootPooled: 1, // Boot.flags: The monitor was started ahead of time (a spawn pool): its start time is the Boot's.
  kBootForkSpares: 2, // Boot.flags: Keep a warm spare for fast forks (dirty logging on guest RAM).
  kBootSameClones: 4, // Boot.flags: Fork children keep their parent's entropy and generation (uniqueClones: false).
  kBootFiles: 8, // Boot.flags: A third fd follows: the pVM's files, an archive (hypercalls/linux/handoff.h) a Linux program's personality serves as its filesystem.
  kBootEnv: 16, // Boot.flags: The tail has Boot.envc environment strings after the arguments: the whole environment (boot-info envp/envc with the ENV boot flag). Without it a Linux program gets the default PATH/HOME/TERM.
  kBootStdin: 32, // Boot.flags: Standard input is open: the host writes it with Stdin messages, the last with kStdinEnd. Without it standard input is at its end from the start.
  kBootStdinWhole: 64, // Boot.flags: With kBootStdin: the whole input (Stdin messages up to kStdinEnd) follows the Boot message at once; the monitor takes all of it before the guest's first instruction.
  kStdinEnd: 1, // StdinData.flags: The end of standard input: nothing follows.
  kBootSnapshot: 256, // Boot.flags: The image fd is a snapshot file (monitor/snapshot_file.h): RAM, vCPU and argv come from it; ram_size and the tail are ignored (0, none).
  kAttachShm: 1, // AttachRequest.flags: A shared-memory region, not a channel.
  kReadyKvmPvm: 1, // Ready.backend_flags: kvm: the kvm_pvm software flavour was detected.
  kReadyLinux: 1, // Ready.image_flags: The image is a static Linux program (the Linux personality serves it); a fork child's is its parent's.
} as const;
