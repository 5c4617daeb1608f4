/**
 * Where the package's native parts live: the addon, the monitor, the built guests, the
 * guest toolchain.
 *
 * The rules are node-gyp-build's: a local build (`build/`, made by `npm ci` in a source
 * checkout or by `npx pvm build`) wins when it is complete; else the prebuild for this
 * machine, `prebuilds/<platform>-<arch>/`, shipped in the npm package. All of them come
 * from the same one place, so the addon and the monitor always match.
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
/** This machine as prebuild directories are named, e.g. `linux-x64`. @internal */
export const platformName = `${process.platform}-${process.arch}`;
/** The prebuild directory for this machine (it may not exist). @internal */
export const prebuildDir: string = join(packageRoot, 'prebuilds', platformName);
/** The local build directory (cmake-js `--out build`). @internal */
export const buildDir: string = join(packageRoot, 'build');

const localNativeDir = join(buildDir, 'Release');
/** Where the native parts come from: a complete local build, else the prebuild. @internal */
export const nativeOrigin: 'build' | 'prebuild' =
  existsSync(join(localNativeDir, 'pvm.node')) && existsSync(join(localNativeDir, 'pvm-monitor')) ? 'build' : 'prebuild';
const local = nativeOrigin === 'build';

/** Directory of the native executables (monitor, benchmark baselines) and the addon. */
export const nativeDir: string = local ? localNativeDir : prebuildDir;
/** The monitor executable. */
export const monitorPath: string = join(nativeDir, 'pvm-monitor');
/** Directory of the guest images built with the package (tests, examples). */
export const guestDir: string = local ? join(buildDir, 'guests') : join(prebuildDir, 'guests');
/** How to build a guest: compiler, flags, runtime archive, linker script (`pvm cc`). @internal */
export const guestToolchainPath: string = local
  ? join(buildDir, 'guest-toolchain.json')
  : join(prebuildDir, 'guest', 'toolchain.json');

/** Path of a guest image built with the package, e.g. `builtinGuest('hello')`. */
export function builtinGuest(name: string): string {
  return join(guestDir, `${name}.pvm`);
}

/**
 * The message for a native part that is not there, e.g. `missingNative('monitor')`:
 * "no prebuilt monitor for linux-arm64 (…); run `npx pvm build`…". @internal
 */
export function missingNative(what: string, detail = `looked in ${prebuildDir} and ${buildDir}`): string {
  return (
    `no prebuilt ${what} for ${platformName} (${detail}); ` +
    'run `npx pvm build` to build it from source (needs cmake and a C++ compiler)'
  );
}
