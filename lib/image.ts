/**
 * Finding and opening guest images, and checking their arguments: what spawn, exec and a
 * guest's EXEC share before anything reaches a monitor.
 * @internal
 * @module
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { constants as osConstants } from 'node:os';
import { ARGS_SIZE, GuestErrno } from './abi.js';
import { PvmError } from './errors.js';
import { loadAddon } from './native.js';

/**
 * How long opening an image may take before it is given up with `EBADIMAGE` (a hung
 * network filesystem): the open goes on in the background and its fd is closed then.
 */
export const IMAGE_OPEN_TIMEOUT_MS = 5000;

/**
 * @internal Opens an image file for a monitor (which gets its own copy of the fd):
 * `ENOENT`, or `EBADIMAGE` for what cannot be opened or is not a regular file, or what
 * takes over {@link IMAGE_OPEN_TIMEOUT_MS}. Never blocks this thread. On a local
 * filesystem the open is done here (microseconds; O_NONBLOCK, so a FIFO or a device
 * answers at once); anywhere else (NFS, FUSE, 9p...), or through a symlink, it runs on
 * a thread of the addon's own (~75 µs more), bounded by the timeout.
 */
export function openImage(image: string): Promise<number> {
  if (onLocalFilesystem(image)) {
    let fd: number | undefined;
    try {
      fd = openSync(image, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      const errno = -((err as NodeJS.ErrnoException).errno ?? 0);
      // A symlink may lead anywhere: the bounded open follows it.
      if (errno !== osConstants.errno.ELOOP) return Promise.reject(openError(image, errno));
    }
    if (fd !== undefined) {
      if (fstatSync(fd).isFile()) return Promise.resolve(fd);
      closeSync(fd);
      return Promise.reject(openError(image, 0));
    }
  }
  return openOffThread(image);
}

function openOffThread(image: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(
        new PvmError('EBADIMAGE', `opening image ${image} took over ${IMAGE_OPEN_TIMEOUT_MS / 1000} s (a slow or hung filesystem?)`, {
          path: image,
          errno: osConstants.errno.ETIMEDOUT,
        }),
      );
    }, IMAGE_OPEN_TIMEOUT_MS);
    loadAddon().openImage(image, (errno, fd, regular) => {
      if (settled) {
        if (fd >= 0) closeSync(fd); // given up on already
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (errno === 0 && regular) return resolve(fd);
      if (fd >= 0) closeSync(fd);
      reject(openError(image, errno));
    });
  });
}

/** The error for an image that could not be opened (errno), or is no regular file (0). */
function openError(image: string, errno: number): PvmError {
  if (errno === osConstants.errno.ENOENT) return new PvmError('ENOENT', `image not found: ${image}`, { path: image, errno });
  if (errno === 0) return new PvmError('EBADIMAGE', `image is not a regular file: ${image}`, { path: image });
  return new PvmError('EBADIMAGE', `cannot open image ${image}: ${errnoName(errno)}`, { path: image, errno });
}

// Filesystems whose open(2) cannot hang on something outside this machine.
const LOCAL_FILESYSTEMS = new Set([
  'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'f2fs', 'tmpfs', 'ramfs', 'overlay', 'squashfs', 'vfat',
  'exfat', 'iso9660', 'zfs', 'devtmpfs', 'proc', 'sysfs',
]);
let mounts: { at: number; list: Array<{ dir: string; type: string }> } | undefined;

/** True when `path` (made absolute, symlinks not followed) lies on a local filesystem. */
function onLocalFilesystem(path: string): boolean {
  // The mount table, re-read at most once a second (mounts rarely change).
  if (!mounts || Date.now() - mounts.at > 1000) {
    let text = '';
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      // no /proc: every open goes the bounded way
    }
    const list = text
      .split('\n')
      .map((line) => line.split(' '))
      .filter((f) => f.length > 5)
      .map((f) => ({ dir: f[4]!.replace(/\\040/g, ' '), type: f[f.indexOf('-') + 1] ?? '' }))
      .sort((a, b) => b.dir.length - a.dir.length); // longest first: the innermost mount
    mounts = { at: Date.now(), list };
  }
  const abs = resolvePath(path);
  const mount = mounts.list.find((m) => m.dir === '/' || abs === m.dir || abs.startsWith(m.dir + '/'));
  return mount !== undefined && LOCAL_FILESYSTEMS.has(mount.type);
}

function errnoName(errno: number): string {
  return Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
}

/**
 * @internal The image a guest's EXEC names (a bare file name, with or without `.pvm`),
 * looked for in `dirs` in order and opened: its fd and path, or `{ fd: -ENOENT }`
 * (`-ENOEXEC` when the name is there but is no regular file, or cannot be opened in time),
 * the negative numbers being wire errnos (abi.json errors: ExecImage.error).
 * Names with a slash or a leading dot are not looked for: nothing outside `dirs`.
 */
export async function openGuestImage(name: string, dirs: readonly string[]): Promise<{ fd: number; path?: string }> {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name)) return { fd: -GuestErrno.ENOENT };
  for (const candidate of dirs.flatMap((d) => [join(d, name), join(d, `${name}.pvm`)])) {
    try {
      return { fd: await openImage(candidate), path: candidate };
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
