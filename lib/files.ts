/**
 * The `files` spawn option: a host directory packed into the archive a Linux program's
 * personality serves as its filesystem (format: hypercalls/linux/handoff.h,
 * `pvm_files_header` / `pvm_files_entry`). The directory is only read: directories and
 * regular files are taken, symbolic links and anything else left out, so nothing
 * outside it is reachable from the pVM.
 */
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PvmError } from './errors.js';

/** What the pVM's filesystem is filled from (see {@link SpawnOptions.files}). */
export interface FilesOption {
  /** A host directory: it becomes the pVM's `/`, copied at spawn, never written. */
  dir: string;
}

const MAGIC = 0x73667670; // "pvfs"
const HEADER = 16;
const ENTRY = 32;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

interface Entry { parent: number; mode: number; mtimeNs: bigint; name: Buffer; data: Buffer }

const pad8 = (n: number) => (n + 7) & ~7;

/** @internal Packs `option.dir` (rejects with ENOENT if it is missing, EINVAL if it is no directory). */
export async function packFiles(option: FilesOption): Promise<Buffer> {
  if (typeof option !== 'object' || option === null || typeof option.dir !== 'string' || option.dir === '') {
    throw new PvmError('EINVAL', 'files: expected { dir: string }');
  }
  const root = await lstat(option.dir, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
    throw new PvmError(err.code === 'ENOENT' ? 'ENOENT' : 'EINVAL', `files.dir: ${err.message}`, { cause: err });
  });
  if ((Number(root.mode) & S_IFMT) !== S_IFDIR) throw new PvmError('EINVAL', `files.dir: ${option.dir} is not a directory`);
  const entries: Entry[] = [{ parent: 0, mode: Number(root.mode), mtimeNs: root.mtimeNs, name: Buffer.alloc(0), data: Buffer.alloc(0) }];
  // Breadth first, names sorted: a parent always comes before what it holds.
  const queue: Array<{ index: number; path: string }> = [{ index: 0, path: option.dir }];
  for (let q = 0; q < queue.length; q++) {
    const { index, path } = queue[q];
    const names = (await readdir(path)).sort();
    for (const name of names) {
      const full = join(path, name);
      const st = await lstat(full, { bigint: true });
      const type = Number(st.mode) & S_IFMT;
      if (type !== S_IFDIR && type !== S_IFREG) continue; // symlinks, devices, sockets: left out
      const data = type === S_IFREG ? await readRegular(full) : Buffer.alloc(0);
      entries.push({ parent: index, mode: Number(st.mode), mtimeNs: st.mtimeNs, name: Buffer.from(name), data });
      if (type === S_IFDIR) queue.push({ index: entries.length - 1, path: full });
    }
  }
  let bytes = HEADER;
  for (const e of entries) bytes += ENTRY + pad8(e.name.length) + pad8(e.data.length);
  const out = Buffer.alloc(bytes);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(entries.length, 4);
  out.writeBigUInt64LE(BigInt(bytes), 8);
  let at = HEADER;
  for (const e of entries) {
    out.writeUInt32LE(e.parent, at);
    out.writeUInt32LE(e.mode, at + 4);
    out.writeBigUInt64LE(BigInt(e.data.length), at + 8);
    out.writeBigInt64LE(e.mtimeNs, at + 16);
    out.writeUInt32LE(e.name.length, at + 24);
    at += ENTRY;
    e.name.copy(out, at);
    at += pad8(e.name.length);
    e.data.copy(out, at);
    at += pad8(e.data.length);
  }
  return out;
}

// Opened without following a link swapped in since the lstat (O_NOFOLLOW): the bytes of
// the file that was looked at, or none.
async function readRegular(path: string): Promise<Buffer> {
  const { constants } = await import('node:fs');
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
