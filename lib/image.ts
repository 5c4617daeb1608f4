/**
 * Finding and opening guest images, and checking their arguments: what spawn, exec and a
 * guest's EXEC share before anything reaches a monitor.
 * @internal
 * @module
 */
import { closeSync, constants as fsConstants, fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ARGS_SIZE, GuestErrno } from './abi.js';
import { PvmError } from './errors.js';

/**
 * @internal Opens an image file for a monitor (which gets its own copy of the fd):
 * `ENOENT`, or `EBADIMAGE` for what cannot be opened or is not a regular file.
 * Synchronous on purpose: a local open + fstat takes microseconds, two trips through
 * libuv's thread pool can take milliseconds, and spawn latency is what users measure.
 * O_NONBLOCK: a FIFO (or a device) would block the open itself; it gets EBADIMAGE below.
 */
export function openImage(image: string): number {
  let fd: number;
  try {
    fd = openSync(image, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new PvmError('ENOENT', `image not found: ${image}`, { path: image, errno: e.errno });
    throw new PvmError('EBADIMAGE', `cannot open image ${image}: ${e.message}`, { path: image, errno: e.errno, cause: err });
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new PvmError('EBADIMAGE', `image is not a regular file: ${image}`, { path: image });
  }
  return fd;
}

/**
 * @internal The image a guest's EXEC names (a bare file name, with or without `.pvm`),
 * looked for in `dirs` in order and opened: its fd and path, or `{ fd: -ENOENT }`
 * (`-ENOEXEC` when the name is there but is no regular file: a FIFO, a device), the
 * negative numbers being wire errnos (abi.json errors: ExecImage.error).
 * Names with a slash or a leading dot are not looked for: nothing outside `dirs`.
 */
export function openGuestImage(name: string, dirs: readonly string[]): { fd: number; path?: string } {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name)) return { fd: -GuestErrno.ENOENT };
  for (const candidate of dirs.flatMap((d) => [join(d, name), join(d, `${name}.pvm`)])) {
    try {
      return { fd: openImage(candidate), path: candidate };
    } catch (err) {
      if ((err as PvmError).code === 'EBADIMAGE') return { fd: -GuestErrno.ENOEXEC };
      // not here: the next directory
    }
  }
  return { fd: -GuestErrno.ENOENT };
}

/** @internal argv of an image: `[image, ...args]`, checked to fit the boot-info args area. */
export function checkArgs(image: string, args: readonly string[]): string[] {
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
    throw new PvmError('EINVAL', 'args: expected an array of strings');
  }
  const all = [image, ...args];
  if (all.some((a) => a.includes('\0'))) throw new PvmError('EINVAL', 'args: strings may not contain NUL');
  // Strings, their NULs and one 8-byte pointer each must fit the boot-info args area.
  const bytes = all.reduce((n, a) => n + Buffer.byteLength(a) + 1 + 8, 8);
  if (bytes > ARGS_SIZE) throw new PvmError('E2BIG', `args: ${bytes} bytes, the limit is ${ARGS_SIZE}`);
  return all;
}
