// The npm package as a user meets it: `npm pack` here (prepack builds dist/ and the
// prebuilds), then `npm install <tarball>` into a fresh app with scripts off, offline and
// with an empty npm cache (nothing from the registry), and there: import the library,
// spawn and fork a built-in guest, `npx pvm cc` + `npx pvm run` a guest from C, the same
// guest through CMake's pvm_add_guest(), `npx pvm bench`, the errors when the prebuild is
// missing; nothing of the package is left running afterwards.
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';
import { eventually, monitorsUnder, vmSuite } from './_helpers.js';

// The package is the same whatever the backend, and packing and installing it is slow: on
// the run's first backend only (its pVMs run the same code as the other tests').
const { suite, vm: vmTest } = vmSuite('package', { backends: 'first' });
// Under scripts/test-hwkvm.mjs (QEMU TCG) npm pack and npm install would take many
// minutes; the pVMs here run the same code as the other tests'. Skipped there.
const inHwkvmVm = process.env.PVM_HWKVM === '1';
const vm: typeof vmTest = inHwkvmVm ? Object.assign((title: string) => suite.skip(title), vmTest) : vmTest;
const work = mkdtempSync(join(tmpdir(), 'pvm-package-'));
const app = join(work, 'app');
const pkg = join(app, 'node_modules', 'pvm');
let tarball = '';
suite.after(() => rmSync(work, { recursive: true, force: true }));

/** The environment of a user's shell: no npm_* variables of this `npm test`, no registry, an empty cache. */
function userEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...env, npm_config_cache: join(work, 'npm-cache'), npm_config_offline: 'true', npm_config_update_notifier: 'false' };
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs a command to its end (never rejects): its exit code and output. */
function sh(command: string, args: string[], cwd: string, timeout = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: userEnv(), timeout, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && typeof err.code !== 'number' ? `${stderr}\n${err.message}` : stderr });
    });
  });
}
const ok = (r: Ran, what: string) => assert.is(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
const npx = (args: string[], cwd = app) => sh('npx', ['pvm', ...args], cwd);

vm('npm pack: dist, the prebuilds and the guest kit, and nothing a user does not need', async () => {
  const r = await sh('npm', ['pack', '--json', '--pack-destination', work], packageRoot, 300_000);
  ok(r, 'npm pack');
  const json = r.stdout.slice(r.stdout.lastIndexOf('\n[') + 1); // lifecycle output may come first
  const [info] = JSON.parse(json) as Array<{ filename: string; size: number; unpackedSize: number; entryCount: number; files: Array<{ path: string }> }>;
  tarball = join(work, info!.filename);
  const files = info!.files.map((f) => f.path);
  console.log(`package: ${info!.filename}: ${(info!.size / 1024).toFixed(0)} KiB packed, ${(info!.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${info!.entryCount} files`);
  for (const needed of [
    'dist/lib/index.js',
    'dist/lib/index.d.ts',
    'dist/bench/index.js',
    'bin/pvm.js',
    'prebuilds/linux-x64/pvm-monitor',
    'prebuilds/linux-x64/fork-baseline',
    'prebuilds/linux-x64/guests/idle.pvm',
    'prebuilds/linux-x64/guest/lib/libpvmrt.a',
    'prebuilds/linux-x64/guest/include/pvm.h',
    'prebuilds/linux-x64/guest/include/pvm/abi.h',
    'prebuilds/linux-x64/guest/pvm-guest.ld',
    'prebuilds/linux-x64/guest/toolchain.json',
    'cmake/pvm-config.cmake',
    'hypercalls/pvm-guest.cmake',
    'CMakeLists.txt',
    'node_modules/eventemitter3/package.json',
  ]) {
    assert.ok(files.includes(needed), `the package lacks ${needed}`);
  }
  assert.ok(files.some((f) => /^prebuilds\/linux-x64\/pvm\.napi-v\d+(\.glibc-\d+\.\d+)?\.node$/.test(f)), 'no tagged addon');
  const unwanted = files.filter((f) => /^(build|fuzz|docs|scratch|\.ci|scripts\/(?!gen-abi))\/|\.test\.ts$|^test\/(?!guests\/)|^node_modules\/(?!eventemitter3\/)/.test(f));
  assert.equal(unwanted, [], `the package carries what a user does not need`);
  assert.not.ok(existsSync(join(packageRoot, 'prebuilds')), 'postpack left prebuilds/ in the checkout');
}, { timeoutMs: 300_000 });

vm('npm install <tarball> offline, with no install script; import it, spawn and fork a built-in guest', async () => {
  assert.ok(tarball, 'no tarball (npm pack failed)');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(
    join(app, 'app.mjs'),
    `import { Host, builtinGuest } from 'pvm';
const host = await Host.open();
try {
  const hello = await host.spawn(builtinGuest('hello'), { memory: '16MiB', args: ['app'] });
  let text = '';
  for await (const chunk of hello.console) text += chunk;
  const idle = await host.spawn(builtinGuest('idle'), { memory: '16MiB' });
  await new Promise((ready) => idle.console.on('data', (d) => String(d).includes('idle: ready') && ready()));
  const { child, channel } = await idle.fork();
  const forkedAt = Date.now();
  await channel.send('ping');
  const echo = String(await channel.recv());
  channel.close();
  console.log(JSON.stringify({ text, hello: await hello.exited, echo, child: await child.exited, forkedAt }));
} finally {
  await host.close();
}
`,
  );
  const t0 = Date.now();
  const install = await sh('npm', ['install', tarball, '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], app);
  ok(install, 'npm install');
  // What npm 11 would hold for approval: preinstall, install, postinstall, prepare (of a
  // tarball), a binding.gyp. None: the repo builds in preprepare, which only a root runs.
  const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const held = ['preinstall', 'install', 'postinstall', 'prepare'].filter((s) => manifest.scripts?.[s]);
  assert.equal(held, [], 'the package has install scripts');
  assert.not.ok(existsSync(join(pkg, 'binding.gyp')));
  assert.not.ok(existsSync(join(pkg, 'build')), 'the installed package has a build/');
  const node = await sh(process.execPath, [join(app, 'app.mjs')], '/'); // any cwd: the package finds its own parts
  ok(node, 'node app.mjs');
  const out = JSON.parse(node.stdout) as { text: string; hello: unknown; echo: string; child: unknown; forkedAt: number };
  console.log(`package: npm install <tarball> to the first forked pVM: ${((out.forkedAt - t0) / 1000).toFixed(1)} s`);
  assert.match(out.text, /app/);
  assert.equal(out.hello, { kind: 'exit', code: 0 });
  assert.is(out.echo, 'ping');
  assert.equal(out.child, { kind: 'exit', code: 0 });
});

const HELLO_C = `#include <pvm.h>
#include <stdio.h>
int main(int argc, char **argv) {
  printf("hi %s from pVM %lu\\n", argc > 1 ? argv[1] : "nobody", (unsigned long)pvm_id());
  return 7;
}
`;

vm('npx pvm cc builds a guest with gcc and the packaged runtime; npx pvm run runs it', async () => {
  writeFileSync(join(app, 'hello.c'), HELLO_C);
  ok(await npx(['cc', 'hello.c', '-o', 'hello.pvm']), 'npx pvm cc');
  const r = await npx(['run', '--memory', '16MiB', 'hello.pvm', 'cc']);
  assert.is(r.code, 7, r.stderr);
  assert.match(r.stdout, /^hi cc from pVM \d+$/m);
});

vm("CMake: find_package(pvm) from the package gives pvm_add_guest()", async () => {
  const cmake = await sh('cmake', ['--version'], app);
  if (cmake.code !== 0) return console.log('package: no cmake here, pvm_add_guest() not tried');
  const dir = join(app, 'guests');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'hello.c'), HELLO_C);
  writeFileSync(
    join(dir, 'CMakeLists.txt'),
    `cmake_minimum_required(VERSION 3.20)
project(app_guests C)
find_package(pvm REQUIRED CONFIG PATHS \${CMAKE_SOURCE_DIR}/../node_modules/pvm/cmake NO_DEFAULT_PATH)
pvm_add_guest(hello_cmake SOURCES hello.c)
`,
  );
  ok(await sh('cmake', ['-S', dir, '-B', join(dir, 'build')], app), 'cmake configure');
  ok(await sh('cmake', ['--build', join(dir, 'build')], app), 'cmake --build');
  const r = await npx(['run', join('guests', 'build', 'hello_cmake.pvm'), 'cmake']);
  assert.is(r.code, 7, r.stderr);
  assert.match(r.stdout, /^hi cmake from pVM \d+$/m);
});

vm('npx pvm bench runs the compiled bench with its prebuilt baselines, and writes where asked', async () => {
  const r = await npx(['bench', '--only', 'fork.parentPaused.16MiB', '--json', '--out', 'results/fork.json']);
  ok(r, 'npx pvm bench');
  const results = JSON.parse(r.stdout) as Array<{ name: string; value: number; baseline?: { value: number } }>;
  assert.equal(results.map((x) => x.name), ['fork.parentPaused.16MiB']);
  assert.ok(results[0]!.value > 0 && results[0]!.baseline!.value > 0, r.stdout);
  assert.ok(existsSync(join(app, 'results', 'fork.json')) && existsSync(join(app, 'results', 'fork.svg')), r.stderr);
});

vm('without a prebuild for the machine: errors say what is missing and what to run', async () => {
  const prebuild = join(pkg, 'prebuilds', 'linux-x64');
  renameSync(prebuild, `${prebuild}.away`);
  try {
    const run = await npx(['run', 'hello.pvm']);
    assert.is(run.code, 1, run.stderr);
    assert.match(run.stderr, /no prebuilt addon for linux-x64 .*run `npx pvm build`/);
    const cc = await npx(['cc', 'hello.c', '-o', 'again.pvm']);
    assert.is(cc.code, 1, cc.stderr);
    assert.match(cc.stderr, /no prebuilt guest toolchain for linux-x64/);
    const build = await npx(['build']); // the app has no cmake-js: it says so before it starts
    assert.is(build.code, 1, build.stderr);
    assert.match(build.stderr, /missing:[^]*cmake-js/);
  } finally {
    renameSync(`${prebuild}.away`, prebuild);
  }
});

vm('nothing of the package is left running', async () => {
  const ofPackage = () =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readlinkSync(`/proc/${p}/exe`).startsWith(work);
        } catch {
          return false;
        }
      });
  assert.ok(await eventually(() => ofPackage().length === 0, 5000), `left running: ${ofPackage().map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8'))}`);
  assert.equal(monitorsUnder(), []);
});

suite.run();
