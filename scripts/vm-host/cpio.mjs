// A gzipped cpio archive in the "newc" format, the one the Linux kernel unpacks as an
// initramfs. Entries: { path, type: 'dir' | 'file' | 'symlink' | 'char', mode?, data?, target?, major?, minor? }.
import { gzipSync } from 'node:zlib';

const TYPE = { dir: 0o040000, file: 0o100000, symlink: 0o120000, char: 0o020000 };
const pad4 = (n) => (4 - (n % 4)) % 4;

function record(ino, { path, type, mode, data, target, major = 0, minor = 0 }) {
  const body = type === 'symlink' ? Buffer.from(target) : type === 'file' ? data : Buffer.alloc(0);
  const name = Buffer.from(`${path.replace(/^\/+/, '')}\0`);
  const perm = mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644);
  const fields = [ino, TYPE[type] | perm, 0, 0, type === 'dir' ? 2 : 1, 0, body.length, 0, 0, major, minor, name.length, 0];
  const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
  return [header, name, Buffer.alloc(pad4(header.length + name.length)), body, Buffer.alloc(pad4(body.length))];
}

/** The archive of `entries` (parents before children), gzipped. */
export function cpioGz(entries) {
  const parts = entries.flatMap((e, i) => record(i + 1, e));
  parts.push(...record(0, { path: 'TRAILER!!!', type: 'file', data: Buffer.alloc(0) }));
  return gzipSync(Buffer.concat(parts), { level: 6 });
}
