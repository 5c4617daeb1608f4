/**
 * Where the package's native parts live: the addon, the monitor, the built guests.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const name = (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name;
      if (name === 'pvm') return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('pvm: cannot find the package root from ' + import.meta.url);
    dir = up;
  }
}

/** Root of the installed pvm package. */
export const packageRoot: string = findPackageRoot();
/** Directory of the native build outputs (addon, monitor, native baselines). */
export const nativeDir: string = join(packageRoot, 'build', 'Release');
/** The monitor executable. */
export const monitorPath: string = join(nativeDir, 'pvm-monitor');
/** Directory of the guest images built with the package (tests, examples). */
export const guestDir: string = join(packageRoot, 'build', 'guests');

/** Path of a guest image built with the package, e.g. `builtinGuest('hello')`. */
export function builtinGuest(name: string): string {
  return join(guestDir, `${name}.pvm`);
}
