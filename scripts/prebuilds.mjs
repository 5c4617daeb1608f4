#!/usr/bin/env node
// Assembles prebuilds/<platform>-<arch>/ from the local build (build/), for `npm pack`
// (the prepack script). What lib/paths.ts finds there when the package has no build/:
//   pvm.napi-v<N>.glibc-<X.Y>.node   the N-API addon (tags: what it needs; lib/prebuild.ts)
//   pvm-monitor                      the monitor (static)
//   <baselines>                      the native baselines of `pvm bench`
//   guests/*.pvm                     the built-in guest images (no debug info)
//   guest/                           the guest kit of `pvm cc` and cmake/pvm-config.cmake:
//     include/ (pvm.h, the runtime's libc headers, pvm/abi.h), lib/libpvmrt.a,
//     pvm-guest.ld, toolchain.json (relocatable: paths relative to it, and
//     {ccIncludeDir} / {libgcc} filled in from the compiler on the user's machine)
// `node scripts/prebuilds.mjs --clean` removes prebuilds/ (postpack).
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuilds = join(root, 'prebuilds');
if (process.argv.includes('--clean')) {
  rmSync(prebuilds, { recursive: true, force: true });
  process.exit(0);
}

const build = join(root, 'build');
const release = join(build, 'Release');
const BASELINES = ['loop-native', 'hello-static', 'spawn-baseline', 'fork-baseline', 'ipc-baseline', 'exec-baseline'];

const need = (path) => {
  if (!existsSync(path)) throw new Error(`prebuilds: ${relative(root, path)} is missing: build first (npm run build:native)`);
  return path;
};

const out = join(prebuilds, `${process.platform}-${process.arch}`);
rmSync(prebuilds, { recursive: true, force: true });
mkdirSync(join(out, 'guests'), { recursive: true });

// The addon, named by what it needs: the Node-API version it was built for and the
// newest glibc symbol version it links against.
const napi = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).binary.napi_versions[0];
const addon = readFileSync(need(join(release, 'pvm.node')));
const glibc = newestGlibc(addon);
const addonName = `pvm.napi-v${napi}${glibc ? `.glibc-${glibc}` : ''}.node`;
copyFileSync(join(release, 'pvm.node'), join(out, addonName));

for (const program of ['pvm-monitor', ...BASELINES]) copyFileSync(need(join(release, program)), join(out, program));

// Built-in guests without their debug info (4/5 of each file; what they load is the same).
const guestImages = readdirSync(need(join(build, 'guests'))).filter((f) => f.endsWith('.pvm'));
for (const image of guestImages) {
  const from = join(build, 'guests', image);
  const to = join(out, 'guests', image);
  const strip = spawnSync('objcopy', ['--strip-debug', from, to], { stdio: 'inherit' });
  if (strip.error || strip.status !== 0) throw new Error(`prebuilds: objcopy --strip-debug ${image} failed (binutils' objcopy)`);
}

// The guest kit.
const kit = join(out, 'guest');
cpSync(join(root, 'hypercalls', 'include'), join(kit, 'include'), { recursive: true });
cpSync(need(join(build, 'generated', 'pvm')), join(kit, 'include', 'pvm'), { recursive: true });
mkdirSync(join(kit, 'lib'));
copyFileSync(need(join(build, 'guest-runtime', 'libpvmrt.a')), join(kit, 'lib', 'libpvmrt.a'));
copyFileSync(join(root, 'hypercalls', 'pvm-guest.ld'), join(kit, 'pvm-guest.ld'));
writeFileSync(join(kit, 'toolchain.json'), JSON.stringify(relocatable(need(join(build, 'guest-toolchain.json'))), null, 2) + '\n');

console.error(
  `prebuilds: ${relative(root, out)}: ${addonName}, pvm-monitor, ${BASELINES.length} baselines, ` +
    `${guestImages.length} guests, guest kit`,
);

/** The newest GLIBC_x.y symbol version an ELF file needs, e.g. '2.33', or null. */
function newestGlibc(elf) {
  const versions = [...elf.toString('latin1').matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  versions.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const last = versions.at(-1);
  return last ? `${last[0]}.${last[1]}` : null;
}

/** build/guest-toolchain.json, made relative to the kit and free of this machine's paths. */
function relocatable(file) {
  const tc = JSON.parse(readFileSync(file, 'utf8'));
  if (!tc.ccIncludeDir || !tc.libgcc) throw new Error(`prebuilds: ${file} predates ccIncludeDir/libgcc: npm run build:native`);
  const machine = (s) => s.replaceAll(tc.ccIncludeDir, '{ccIncludeDir}').replaceAll(tc.libgcc, '{libgcc}');
  const portable = {
    $comment:
      'How to build a pVM guest image with this kit (made from build/guest-toolchain.json by scripts/prebuilds.mjs). ' +
      'Paths are relative to this file; {ccIncludeDir} is `cc -print-file-name=include`, {libgcc} is `cc -print-libgcc-file-name`. ' +
      'Compile: cc cflags -I<includeDirs...> [user flags] -c x.c -o x.o. Link: cc ldflags -Wl,-T,<linkerScript> x.o... runtime libs... -o x.pvm.',
    abiVersion: tc.abiVersion,
    imageBase: tc.imageBase,
    cc: 'gcc',
    cflags: tc.cflags.map(machine),
    includeDirs: ['include'],
    ldflags: tc.ldflags.map(machine),
    linkerScript: 'pvm-guest.ld',
    runtime: 'lib/libpvmrt.a',
    libs: tc.libs.map(machine),
  };
  const text = JSON.stringify(portable);
  if (text.includes(root) || text.includes('/usr/')) throw new Error(`prebuilds: toolchain.json keeps a path of this machine: ${text}`);
  return portable;
}
