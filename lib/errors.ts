/**
 * Typed errors. Every error the library throws or rejects with is a {@link PvmError}
 * with a string `code`, so callers can branch on `err.code` as with Node's own errors.
 * @module
 */

/**
 * What went wrong, as a stable string.
 * - `ENOKVM`: the kvm backend was asked for and cannot run: /dev/kvm is missing or cannot be
 *   used by this process.
 * - `ENOBACKEND`: no backend can run here (`'auto'`: the message says what each answered), or
 *   the one asked for is not built into this pvm or cannot run.
 * - `ENOENT`: the image file does not exist, or a native part of pvm itself is missing (no
 *   prebuild for this machine and no local build: the message says to run `npx pvm build`).
 * - `EBADIMAGE`: the file is not a loadable pVM image (static ELF64 x86-64), is no regular
 *   file (a FIFO, a device, a socket, a directory), or took over 5 s to open.
 * - `EABI`: the image was built for another pvm ABI version, or carries no pvm ABI note
 *   (built without the pvm runtime's link step) where it cannot run as a static Linux
 *   program (a backend other than kvm, or an exec): rebuild it with `npx pvm cc`.
 * - `EIMAGETOOLARGE`: the image does not fit the pVM's guest memory.
 * - `EINVAL`: an option is out of range or of the wrong type.
 * - `E2BIG`: the arguments do not fit the boot-info area.
 * - `ENOMEM`: the host could not allocate the guest memory.
 * - `ESRCH`: no such pVM (unknown, or already ended).
 * - `EPERM`: not allowed by the family rule (the pVMs are not of one family).
 * - `ECLOSED`: the host (or the channel) has been closed, before or while the call ran.
 * - `EAGAIN`: a limit was reached (e.g. a pVM has as many children as it has channel slots).
 * - `EMSGSIZE`: a message is larger than a channel carries.
 * - `EPIPE`: the other end of a channel has closed.
 * - `EBADSNAPSHOT`: a snapshot file that cannot be loaded here; `reason` says why
 *   ({@link SnapshotFaultReason}): not a snapshot, another format version, cut short,
 *   corrupted, made on another backend or pvm ABI, malformed, or not readable.
 * - `ENOTFORK`: {@link Pvm.reset} of a pVM that has no fork point: it was spawned, not
 *   forked, or it exec'ed since it was forked.
 * - `ENOSYS`: the host's backend cannot do that (yet): {@link Pvm.reset} on xen, and on
 *   the process backend before Linux 6.10.
 * - `EMONITOR`: the monitor process failed in an unexpected way.
 */
export type PvmErrorCode =
  | 'ENOKVM'
  | 'ENOBACKEND'
  | 'ENOENT'
  | 'EBADIMAGE'
  | 'EABI'
  | 'EIMAGETOOLARGE'
  | 'EINVAL'
  | 'E2BIG'
  | 'ENOMEM'
  | 'ESRCH'
  | 'EPERM'
  | 'ECLOSED'
  | 'EAGAIN'
  | 'EMSGSIZE'
  | 'EPIPE'
  | 'EMONITOR'
  | 'EBADSNAPSHOT'
  | 'ENOTFORK'
  | 'ENOSYS';

/**
 * Why a snapshot file was refused ({@link PvmError.reason} of `EBADSNAPSHOT`):
 * - `'magic'`: not a pvm snapshot at all (a foreign file);
 * - `'version'`: written in another snapshot format version;
 * - `'truncated'`: shorter (or longer) than its header says;
 * - `'checksum'`: its bytes do not match its checksum (corrupted);
 * - `'backend'`: made on another backend (kvm, process) or KVM flavour than the host's;
 * - `'abi'`: made by a pvm of another guest ABI version;
 * - `'malformed'`: a header field out of range, or a vCPU state that does not load;
 * - `'unreadable'`: not a regular file (a FIFO, a device, a directory), or could not be read.
 */
export type SnapshotFaultReason = 'magic' | 'version' | 'truncated' | 'checksum' | 'backend' | 'abi' | 'malformed' | 'unreadable';

/** The one error class of the library. */
export class PvmError extends Error {
  /** Stable machine-readable code. */
  readonly code: PvmErrorCode;
  /** The operating-system errno behind the error, when there is one. */
  readonly errno?: number;
  /** The file involved, when there is one. */
  readonly path?: string;
  /** `EBADSNAPSHOT`: what is wrong with the snapshot file. */
  readonly reason?: SnapshotFaultReason;

  constructor(
    code: PvmErrorCode,
    message: string,
    extra: { errno?: number; path?: string; cause?: unknown; reason?: SnapshotFaultReason } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'PvmError';
    this.code = code;
    if (extra.errno !== undefined) this.errno = extra.errno;
    if (extra.path !== undefined) this.path = extra.path;
    if (extra.reason !== undefined) this.reason = extra.reason;
  }
}
