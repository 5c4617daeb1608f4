// What the Linux-program tests run: the musl test programs the build makes with musl-gcc
// (build/linux/<name>, test/linux/) and Debian's busybox-static, fetched once into
// build/debian/. Each is a path, or why it is not there (its tests then skip, saying so).
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** A program scripts/linux-programs/<name>.mjs builds (`build()` resolves with its path), or why it cannot be built here. */
export async function builtProgram(name: string, build: () => Promise<string>): Promise<string | { skip: string }> {
  return build().catch((err: Error) => ({ skip: `${name} cannot be built here (${err.message.split('\n')[0]})` }));
}

/**
 * A fresh host directory of images for execve's lookup by name (README "execve replaces
 * the image in place"): `entries` maps each name to the file it links to (e.g. `{ lua,
 * sh: busybox }`: a program that runs /bin/sh finds busybox, which runs its sh applet by
 * argv[0]). Returns the directory and a function that removes it.
 */
export function imageDirectory(entries: Record<string, string>): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-images-'));
  for (const [name, target] of Object.entries(entries)) symlinkSync(target, join(dir, name));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
