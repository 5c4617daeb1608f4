// What the Linux-program tests run: the musl test programs the build makes with musl-gcc
// (build/linux/<name>, test/linux/) and Debian's busybox-static, fetched once into
// build/debian/. Each is a path, or why it is not there (its tests then skip, saying so).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
// @ts-expect-error: a plain .mjs script without types
import { debianPackage } from '../scripts/vm-host/debian.mjs';

const root = join(import.meta.dirname, '..');

/** build/linux/<name> and, if it was not built, why. */
export function muslProgram(name: string): { path: string; skip: string | false } {
  const path = join(root, 'build', 'linux', name);
  return { path, skip: !existsSync(path) && `musl-gcc is not installed (Debian: musl-tools), so build/linux/${name} was not built` };
}

/** Debian's busybox-static (a static glibc program), or why it cannot be had here. */
export function fetchBusybox(): string | { skip: string } {
  try {
    const { dir } = debianPackage('busybox-static', join(root, 'build', 'debian')) as { dir: string };
    return join(dir, 'bin', 'busybox');
  } catch (err) {
    return { skip: `Debian's busybox-static cannot be fetched here (${(err as Error).message.split('\n')[0]})` };
  }
}
