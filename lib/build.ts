/**
 * `pvm build`: builds the native parts from source into the package's build/ (cmake-js),
 * for a machine the prebuilds do not fit. Says what is missing before it starts.
 * @internal
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { buildDir, packageRoot } from './paths.js';

/** Help of `pvm build`. @internal */
export const BUILD_USAGE = `usage: pvm build

Builds pvm's native parts from source into ${buildDir}: the N-API addon, the
monitor, the guest runtime and built-in guests, the benchmark baselines. For a machine
no prebuild fits (the package has them for linux-x64 with glibc); once built, pvm uses
this build rather than the prebuild.

Needs: cmake >= 3.20, a C++20 compiler (g++ >= 10 or clang++), gcc (for the guests),
and the build tools cmake-js and node-addon-api, which are not installed with pvm:
  npm install --no-save cmake-js node-addon-api`;

/** What the build needs that is not here, one line each. */
function missingPrerequisites(): string[] {
  const missing: string[] = [];
  const cmake = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
  const version = /cmake version (\d+)\.(\d+)/.exec(cmake.stdout ?? '');
  if (!version) missing.push('cmake >= 3.20 (not found on PATH; e.g. apt install cmake)');
  else if (Number(version[1]) < 3 || (Number(version[1]) === 3 && Number(version[2]) < 20)) {
    missing.push(`cmake >= 3.20 (found ${version[1]}.${version[2]})`);
  }
  const cxx = [process.env.CXX, 'c++', 'g++', 'clang++'].find((c) => c && !spawnSync(c, ['--version']).error);
  if (!cxx) missing.push('a C++20 compiler (no c++, g++ or clang++ on PATH; e.g. apt install g++)');
  if (spawnSync('gcc', ['--version']).error) missing.push('gcc, for the guests (e.g. apt install gcc)');
  for (const name of ['cmake-js', 'node-addon-api']) {
    if (!resolvePackage(name)) missing.push(`the npm package ${name} (npm install --no-save cmake-js node-addon-api)`);
  }
  if (!existsSync(join(packageRoot, 'CMakeLists.txt'))) missing.push(`the sources (${packageRoot}/CMakeLists.txt)`);
  return missing;
}

/** The directory of an npm package as the build would find it (from the pvm package), or null. */
function resolvePackage(name: string): string | null {
  try {
    return dirname(createRequire(join(packageRoot, 'package.json')).resolve(`${name}/package.json`));
  } catch {
    return null;
  }
}

/** Runs `pvm build`; resolves with the exit code. @internal */
export async function buildCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(BUILD_USAGE);
    return 0;
  }
  if (argv.length > 0) {
    console.error(`pvm: unknown argument ${argv[0]}\n\n${BUILD_USAGE}`);
    return 2;
  }
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    console.error(`pvm build: cannot build from source here, missing:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
    return 1;
  }
  const cmakeJs = join(resolvePackage('cmake-js')!, 'bin', 'cmake-js');
  console.error(`pvm build: cmake-js compile in ${packageRoot} (output in ${buildDir})`);
  const code = await new Promise<number>((done, fail) => {
    const child = spawn(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: packageRoot, stdio: 'inherit' });
    child.on('error', fail);
    child.on('exit', (c, signal) => done(c ?? (signal ? 128 : 1)));
  });
  console.error(code === 0 ? `pvm build: done; pvm now uses ${buildDir}` : `pvm build: cmake-js failed (exit ${code})`);
  return code;
}
