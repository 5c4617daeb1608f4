// The xen backend's lifetimes, in a Xen dom0 (npm run test:xen): no domain outlives its
// pVM, whatever ends it: host.close(), SIGKILL of the host's Node process (the monitor
// dies with it, its watchdog destroys the domain), SIGKILL of a monitor and its watchdog
// both (the next monitor's sweep destroys the orphan), forks (a child monitor has a
// watchdog of its own), and channel and region pages (the watchdog holds them until the
// domain that maps them is gone, then ends). Elsewhere every test here skips, loudly.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { Host, builtinGuest } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import { packageRoot } from '../lib/paths.js';
import { eventually, test as boundedTest } from './_helpers.js';

const probe = loadAddon().probeBackend('xen');
const onXen = process.env.PVM_BACKEND === 'xen' && probe.ok;
if (!onXen) console.warn(`\n!!! not a xen run (PVM_BACKEND=${process.env.PVM_BACKEND ?? ''}; xen: ${probe.ok ? 'ok' : probe.message}): xen-lifetime tests are SKIPPED (npm run test:xen runs them) !!!\n`);
const test = onXen ? boundedTest : Object.assign((title: string) => boundedTest.skip(title), boundedTest);
// The host process to SIGKILL: the built library (dist/), as tsx takes ~10 s to start under TCG.
const childScript = `
  const { Host, builtinGuest } = await import(${JSON.stringify(join(packageRoot, 'dist/lib/index.js'))});
  const host = await Host.open({ backend: 'xen' });
  const pvms = [];
  for (let i = 0; i < Number(process.argv[1]); i++) pvms.push(await host.spawn(builtinGuest('loop'), { args: ['100000000000'], console: 'ignore', memory: '16MiB' }));
  console.log(JSON.stringify(pvms.map((p) => p.pid)));
  setInterval(() => {}, 1000);`;

const work = mkdtempSync(join(tmpdir(), 'pvm-xen-lifetime-'));
boundedTest.after(() => rmSync(work, { recursive: true, force: true }));

/**
 * The ids of every domain but dom0, from test/fixtures/xen-probe.c (built here against
 * libxen-dev, as xen-host.test.ts does): `xl list` crashes on domains made without libxl.
 */
function domains(): number[] {
  const exe = join(work, 'xen-probe');
  if (!existsSync(exe)) execFileSync('cc', ['-O2', '-o', exe, join(packageRoot, 'test/fixtures/xen-probe.c'), '-lxenctrl'], { stdio: 'inherit' });
  const probe = JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as { domains: number[] };
  return probe.domains.filter((id) => id !== 0);
}

/** Pids of the processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === ppid) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

test('host.close() destroys the domains of running pVMs', async () => {
  assert.equal(domains(), [], 'no domain before');
  const host = await Host.open({ backend: 'xen' });
  const pvms = [];
  for (let i = 0; i < 2; i++) pvms.push(await host.spawn(builtinGuest('loop'), { args: ['100000000000'], console: 'ignore', memory: '16MiB' }));
  assert.is(domains().length, 2);
  await host.close();
  assert.ok(await eventually(() => domains().length === 0, 10_000), `domains left: ${domains()}`);
});

test('a pVM that ends (exit, fault) leaves no domain', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    const a = await host.spawn(builtinGuest('exitcode'), { args: ['3'], console: 'ignore' });
    const b = await host.spawn(builtinGuest('fault'), { args: ['null'], console: 'ignore' });
    assert.equal(await a.exited, { kind: 'exit', code: 3 });
    assert.is((await b.exited).kind, 'fault');
    assert.ok(await eventually(() => domains().length === 0, 10_000), `domains left: ${domains()}`);
  } finally {
    await host.close();
  }
});

test('kill(): SIGTERM and SIGKILL end a spinning pVM and its domain', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const pvm = await host.spawn(builtinGuest('loop'), { args: ['100000000000'], console: 'ignore', memory: '16MiB' });
      assert.is(domains().length, 1);
      assert.ok(pvm.kill(signal));
      assert.equal(await pvm.exited, { kind: 'killed', signal });
      assert.ok(await eventually(() => domains().length === 0, 10_000), `${signal}: domains left: ${domains()}`);
    }
  } finally {
    await host.close();
  }
});

test('SIGKILL of the Node process: the watchdogs destroy the domains', async () => {
  const child = spawn(process.execPath, ['--input-type=module', '-e', childScript, '2'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PVM_BACKEND: 'xen' },
  });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.on('exit', (code) => reject(new Error(`host process exited early (${code})`)));
  });
  assert.is(pids.length, 2);
  assert.is(domains().length, 2);
  const ended = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await ended;
  assert.ok(await eventually(() => domains().length === 0, 10_000), `domains left: ${domains()}`);
});

test('SIGKILL of a monitor and its watchdog: the next spawn sweeps the orphan', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    const pvm = await host.spawn(builtinGuest('loop'), { args: ['100000000000'], console: 'ignore', memory: '16MiB' });
    const [orphan] = domains();
    assert.ok(orphan !== undefined);
    const watchdogs = childrenOf(pvm.pid).filter((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'pvm-xen-watch');
    assert.is(watchdogs.length, 1, 'one watchdog under the monitor');
    process.kill(watchdogs[0]!, 'SIGKILL');
    process.kill(pvm.pid, 'SIGKILL');
    await pvm.exited;
    assert.ok(domains().includes(orphan), 'the orphan stays until a sweep');
    const next = await host.spawn(builtinGuest('exitcode'), { args: ['0'], console: 'ignore' });
    await next.exited;
    assert.ok(await eventually(() => domains().length === 0, 10_000), `domains left: ${domains()}`);
  } finally {
    await host.close();
  }
});

test('forks leave no domain: children that exit or are killed, a child monitor SIGKILLed (its own watchdog)', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    for (const mode of ['grand', 'kill']) {
      const pvm = await host.spawn(builtinGuest('fork_plain'), { args: [mode], console: 'ignore', memory: '16MiB' });
      assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
      assert.ok(await eventually(() => domains().length === 0, 10_000), `${mode}: domains left: ${domains()}`);
    }
    const parent = await host.spawn(builtinGuest('fork_plain'), { args: ['hold'], console: 'ignore', memory: '16MiB' });
    const { child } = await new Promise<{ child: { pid: number; exited: Promise<unknown> } }>((resolve) => parent.once('fork', resolve));
    // Parent and child; on memshr (test:xen --memshr) also the template both are forks of.
    assert.is(domains().length, process.env.PVM_XEN_MEMSHR === '1' ? 3 : 2);
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
    assert.equal(await parent.exited, { kind: 'exit', code: 0 });
    assert.ok(await eventually(() => domains().length === 0, 10_000), `domains left: ${domains()}`);
  } finally {
    await host.close();
  }
});

/** Pids of every xen monitor watchdog in dom0. */
function watchdogs(): number[] {
  return readdirSync('/proc').filter((e) => {
    try {
      return /^\d+$/.test(e) && readFileSync(`/proc/${e}/comm`, 'utf8').trim() === 'pvm-xen-watch';
    } catch {
      return false; // gone meanwhile
    }
  }).map(Number);
}

test('channel and region pages: a monitor SIGKILLed while its domain maps a channel and a region: its watchdog destroys the domain, lets the pages go and ends', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    const parent = await host.spawn(builtinGuest('idle'), { console: 'ignore', memory: '16MiB' });
    const { child, channel } = await parent.fork();
    await channel.send('up?');
    assert.is(String(await channel.recv()), 'up?');
    const region = await host.share(child, 64 * 1024);
    assert.is(region.memory.byteLength, 64 * 1024);
    // Parent and child; on memshr also the template both are forks of.
    assert.is(domains().length, process.env.PVM_XEN_MEMSHR === '1' ? 3 : 2);
    process.kill(child.pid, 'SIGKILL');
    await child.exited;
    assert.is(await channel.recv(), null, 'the host reads end-of-stream');
    channel.close();
    parent.kill();
    await parent.exited;
    assert.ok(await eventually(() => domains().length === 0, 10_000), `domains left: ${domains()}`);
    assert.ok(await eventually(() => watchdogs().length === 0, 10_000), `watchdogs left: ${watchdogs()}`);
  } finally {
    await host.close();
  }
});

test.run();
