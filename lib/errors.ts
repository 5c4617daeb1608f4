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
 *   (built without the pvm runtime's link step): rebuild it with `npx pvm cc`.
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
 * - `EMONITOR`: the monitor process failed in an unexpected way.
 * - `ENOSYS`: the host's backend cannot do that (yet): on xen, channels and shared memory,
 *   and so `pvm.fork()` (it always makes a channel to the child).
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
  | 'ENOSYS'
  | 'EABI';

/** The one error class of the library. */
export class PvmError extends Error {
  /** Stable machine-readable code. */
  readonly code: PvmErrorCode;
  /** The operating-system errno behind the error, when there is one. */
  readonly errno?: number;
  /** The file involved, when there is one. */
  readonly path?: string;

  constructor(code: PvmErrorCode, message: string, extra: { errno?: number; path?: string; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'PvmError';
    this.code = code;
    if (extra.errno !== undefined) this.errno = extra.errno;
    if (extra.path !== undefined) this.path = extra.path;
  }
}
