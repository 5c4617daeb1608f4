/**
 * The guest toolchain `pvm cc` builds with: the description the CMake build writes
 * (build/guest-toolchain.json, absolute paths) or the package's relocatable one
 * (prebuilds/<platform>-<arch>/guest/toolchain.json: paths relative to the file, and
 * `{ccIncludeDir}` / `{libgcc}` for what only the compiler on this machine knows).
 * @internal
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { PvmError } from './errors.js';
import { guestToolchainPath, missingNative } from './paths.js';

/** A guest toolchain with every path resolved. @internal */
export interface GuestToolchain {
  cc: string;
  cflags: string[];
  ldflags: string[];
  includeDirs: string[];
  runtime: string;
  linkerScript: string;
  libs: string[];
}

/** Reads the toolchain of this package; `PVM_CC` names another compiler. @internal */
export function loadGuestToolchain(): GuestToolchain {
  if (!existsSync(guestToolchainPath)) {
    throw new PvmError('ENOENT', missingNative('guest toolchain', `no ${guestToolchainPath}`));
  }
  const raw = JSON.parse(readFileSync(guestToolchainPath, 'utf8')) as GuestToolchain;
  const cc = process.env.PVM_CC || raw.cc;
  const base = dirname(guestToolchainPath);
  const path = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const known = new Map<string, string>();
  const fill = (s: string) =>
    s.replace(/\{(ccIncludeDir|libgcc)\}/g, (_, name: string) => {
      if (!known.has(name)) known.set(name, askCompiler(cc, name === 'libgcc' ? '-print-libgcc-file-name' : '-print-file-name=include'));
      return known.get(name)!;
    });
  return {
    cc,
    cflags: raw.cflags.map(fill),
    ldflags: raw.ldflags.map(fill),
    includeDirs: raw.includeDirs.map(path),
    runtime: path(raw.runtime),
    linkerScript: path(raw.linkerScript),
    libs: raw.libs.map(fill),
  };
}

/** The compiler's answer to a `-print-…` question; `ENOENT` naming the compiler when there is none. */
function askCompiler(cc: string, question: string): string {
  const r = spawnSync(cc, [question], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'not found' : (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    throw new PvmError('ENOENT', `pvm cc needs gcc to build guests: ${cc} ${why} (install gcc, or set PVM_CC to a GCC-compatible compiler)`);
  }
  return r.stdout.trim();
}

/** The compiler's arguments that build `sources` into the image `out`, as pvm_add_guest() does. @internal */
export function guestBuildArgs(tc: GuestToolchain, sources: string[], flags: string[], out: string): string[] {
  return [
    ...tc.cflags,
    ...tc.includeDirs.map((d) => `-I${d}`),
    ...flags,
    ...sources,
    tc.runtime,
    ...tc.ldflags,
    `-Wl,-T,${tc.linkerScript}`,
    ...tc.libs,
    '-o',
    out,
  ];
}
