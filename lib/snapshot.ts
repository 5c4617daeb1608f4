/**
 * Snapshot files as the host handles them: the file a monitor writes ({@link Pvm.snapshot}:
 * `<file>.tmp`, renamed into place once written) and the file a spawn boots from
 * ({@link Host.spawn} with `{ snapshot }`). Their contents are the monitor's business
 * (addon/monitor/snapshot_file.h): the host reads only the image path it stored.
 * @internal
 * @module
 */
import { closeSync, constants as fsConstants, openSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { PvmError } from './errors.js';
import { openImage } from './image.js';

/** What {@link Pvm.snapshot} resolves with. */
export interface SnapshotInfo {
  /** The file written (absolute). */
  readonly file: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** Guest RAM pages (4 KiB) it stores: those that are not zero. */
  readonly pages: number;
  /** How long the pVM's vCPU was paused while the file was written, in µs. */
  readonly pausedUs: number;
}

// snapshot_file.h: SnapshotHeader.magic at 0 and .image (1 KiB, NUL-terminated) at this
// offset (static_assert'ed there).
const MAGIC = Buffer.from('PVMSNAP\0', 'latin1');
const IMAGE_OFFSET = 136;
const IMAGE_SIZE = 1024;

/**
 * @internal Opens a snapshot for a monitor, like an image (never blocks this thread):
 * `ENOENT`, or `EBADSNAPSHOT` (reason `'unreadable'`) for what is no regular file or
 * cannot be opened in time. With the image path the snapshot names, if it names one.
 */
export async function openSnapshot(file: string): Promise<{ fd: number; image?: string }> {
  let fd: number;
  try {
    fd = await openImage(file);
  } catch (err) {
    const e = err as PvmError;
    if (e.code !== 'EBADIMAGE') throw err;
    throw new PvmError('EBADSNAPSHOT', e.message.replace(/image/g, 'snapshot'), { path: file, reason: 'unreadable', cause: err, ...(e.errno ? { errno: e.errno } : {}) });
  }
  const head = Buffer.alloc(IMAGE_OFFSET + IMAGE_SIZE);
  let got = 0;
  try {
    got = readSync(fd, head, 0, head.length, 0);
  } catch {
    // the monitor says what is wrong with it
  }
  if (got < head.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) return { fd };
  const name = head.subarray(IMAGE_OFFSET, IMAGE_OFFSET + IMAGE_SIZE);
  const end = name.indexOf(0);
  const image = name.subarray(0, end < 0 ? IMAGE_SIZE : end).toString('utf8');
  return image ? { fd, image } : { fd };
}

/**
 * @internal The file a monitor writes a snapshot into: `<file>.tmp`, created or emptied.
 * `ENOENT` (no such directory), `EPERM` (not allowed), `EINVAL` (anything else).
 */
export function createSnapshotFile(file: string): number {
  try {
    return openSync(`${file}.tmp`, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK, 0o644);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const code = e.code === 'ENOENT' ? 'ENOENT' : e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' ? 'EPERM' : 'EINVAL';
    throw new PvmError(code, `cannot create ${file}.tmp: ${e.message}`, { path: file, cause: err, ...(e.errno ? { errno: -e.errno } : {}) });
  }
}

/** @internal The monitor has written `<file>.tmp` (or failed: then it goes). */
export function finishSnapshotFile(file: string, written: boolean): void {
  if (written) {
    renameSync(`${file}.tmp`, file);
    return;
  }
  try {
    unlinkSync(`${file}.tmp`);
  } catch {
    // gone already
  }
}

/** @internal Closes an fd the monitor has its own copy of. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closed already
  }
}
