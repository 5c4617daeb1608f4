import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';
import { Host } from '../lib/index.js';
import { backend, consoleOf, eventually, guest, vmSuite } from './_helpers.js';
import { fetchBusybox } from './_linux.js';

const { suite, vm } = vmSuite('cli');
const bin = join(packageRoot, 'bin', 'pvm.js');
const pvm = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

vm('pvm run prints the console and exits with the guest code', () => {
  const r = pvm('run', '--memory', '16MiB', guest('greeter'), 'Ada', 'Grace');
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stdout, /hello, Ada!/);
  assert.match(r.stdout, /hello, Grace!/);
});

vm('pvm run reports a guest fault on stderr and exits 139', () => {
  const r = pvm('run', guest('fault'), 'null');
  assert.is(r.status, 139);
  assert.match(r.stdout, /about to fault: null/);
  assert.match(r.stderr, /page fault/i);
});

vm('pvm run: clear errors for a missing image and bad options', () => {
  const missing = pvm('run', '/nonexistent.pvm');
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /not found.*ENOENT/);
  const badMem = pvm('run', '--memory', 'lots', guest('hello'));
  assert.is(badMem.status, 1);
  assert.match(badMem.stderr, /EINVAL/);
  const xen = pvm('run', '--backend', 'xen', guest('hello'));
  assert.is(xen.status, 1);
  // Not built, or (built where libxen-dev was found) not a Xen dom0 here.
  assert.match(xen.stderr, /backend xen: .*ENOBACKEND/);
  const named = pvm('run', `--backend=${backend()}`, guest('hello'));
  assert.is(named.status, 0, named.stderr);
  const usage = pvm('run');
  assert.is(usage.status, 2);
  assert.match(usage.stderr, /usage: pvm run/);
  assert.is(pvm('--help').status, 0);
});

vm('pvm cc builds a runnable guest from C', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-cc-'));
  try {
    const out = join(dir, 'greeter.pvm');
    const cc = pvm('cc', join(packageRoot, 'examples', 'guests', 'greeter.c'), '-o', out);
    assert.is(cc.status, 0, cc.stderr);
    const r = pvm('run', out, 'cc');
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stdout, /hello, cc!/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

vm('pvm ps shows this host and its family tree: ids, monitor pids, parents', async () => {
  const host = await Host.open();
  try {
    const root = await host.spawn(guest('idle'), { memory: '16MiB' });
    await consoleOf(root).until('idle: ready');
    const { child } = await root.fork();
    const r = pvm('ps', '--json');
    assert.is(r.status, 0, r.stderr);
    type Entry = { id: number; pid: number; parentId: number; rssKiB: number; children: Entry[] };
    const hosts = JSON.parse(r.stdout) as Array<{ pid: number; live: number; limit: number; backend: string | null; roots: Entry[] }>;
    const me = hosts.find((h) => h.pid === process.pid);
    assert.ok(me, `this process is not among the hosts: ${r.stdout}`);
    assert.is(me!.live, 2);
    assert.is(me!.limit, 1024);
    assert.is(me!.backend, backend());
    const top = me!.roots.find((e) => e.id === root.id);
    assert.ok(top, r.stdout);
    assert.is(top!.pid, root.pid);
    assert.ok(top!.rssKiB > 0);
    assert.equal(top!.children.map((c) => [c.id, c.pid, c.parentId]), [[child.id, child.pid, root.id]]);
    const text = pvm('ps');
    assert.is(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`host ${process.pid}:`));
    assert.match(text.stdout, new RegExp(`2 pVMs running \\(limit 1024\\) on ${backend()}`));
    assert.match(text.stdout, new RegExp(`└─ ${child.id}\\s+${child.pid}`));
  } finally {
    await host.close();
  }
  const after = JSON.parse(pvm('ps', '--json').stdout) as Array<{ pid: number }>;
  assert.not.ok(after.some((h) => h.pid === process.pid), 'a closed host is still listed');
});

vm('pvm ps and Pvm.activity show what each pVM is blocked in, and since when', async () => {
  const host = await Host.open();
  try {
    // idle waits for the host; a child the host forks from it waits on its channel.
    const root = await host.spawn(guest('idle'), { memory: '16MiB' });
    await consoleOf(root).until('idle: ready');
    const { child, channel } = await root.fork();
    assert.ok(await eventually(() => child.activity?.state === 'wait'), JSON.stringify(child.activity));
    assert.ok(await eventually(() => root.activity?.state === 'accept'), JSON.stringify(root.activity));
    const slot = child.activity!.slots[0];
    assert.equal(child.activity!.slots, [slot]);
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok(child.activity!.forMs >= 1000, JSON.stringify(child.activity));
    const text = pvm('ps');
    assert.is(text.status, 0, text.stderr);
    assert.match(text.stdout, /PVM\s+MONITOR\s+RSS\s+AGE\s+STATE/);
    assert.match(text.stdout, new RegExp(`\\b${root.id}\\s+${root.pid}\\s.*wait for host \\d+ s`));
    assert.match(text.stdout, new RegExp(`└─ ${child.id}\\s+${child.pid}\\s.*wait channel ${slot} \\d+ s`));
    // Woken: a message makes the child run (it echoes), then it sleeps again.
    await channel.send('ping');
    assert.is(String(await channel.recv()), 'ping');
    channel.close();
    assert.equal(await child.exited, { kind: 'exit', code: 0 });
    assert.is(child.activity, null);
  } finally {
    await host.close();
  }
});

vm('pvm ps and pvm bench: --help, and clear errors for bad options', () => {
  for (const command of ['ps', 'bench', 'run', 'cc', 'build']) {
    const help = pvm(command, '--help');
    assert.is(help.status, 0, help.stderr);
    assert.match(help.stdout, new RegExp(`usage: pvm ${command}`));
  }
  const ps = pvm('ps', '--bogus');
  assert.is(ps.status, 2);
  assert.match(ps.stderr, /unknown argument --bogus/);
  const bench = pvm('bench', '--bogus');
  assert.is(bench.status, 2);
  assert.match(bench.stderr, /unknown option --bogus/);
  const noValue = pvm('bench', '--only');
  assert.is(noValue.status, 2);
  assert.match(noValue.stderr, /--only needs a value/);
  const nothing = pvm('bench', '--only', 'nosuchbench');
  assert.is(nothing.status, 2);
  assert.match(nothing.stderr, /nothing matches --only nosuchbench/);
});

vm('pvm bench runs a benchmark with progress, and writes the JSON and an SVG chart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-bench-'));
  try {
    const r = pvm('bench', '--only', 'guest', '--runs', '3', '--out', join(dir, 'results.json'));
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /\[1\/1\] guest done in [\d.]+ s/);
    assert.match(r.stdout, /guest\.loopSpeed/);
    const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as Array<{ name: string; value: number }>;
    assert.equal(results.map((x) => x.name), ['guest.loopSpeed']);
    assert.ok(results[0]!.value > 0);
    const svg = readFileSync(join(dir, 'results.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /data-name="guest\.loopSpeed"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A static Linux program's environment and standard input (README "Running Linux programs").
const busybox = fetchBusybox();
const stdioTitle = 'pvm run --env and --stdin: the environment is exactly the given variables; piped input reaches the commands a shell forks';
if (typeof busybox === 'string') {
  vm(stdioTitle, () => {
    const r = spawnSync(process.execPath, [bin, 'run', `--backend=${backend()}`, '--stdin', '-e', 'FOO=x y', '--env=BAR=', busybox, 'sh', '-c', 'sort | uniq; echo "$FOO|$BAR|$HOME"'], {
      encoding: 'utf8', timeout: 60_000, input: 'b\na\nb\nc\n',
    });
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, 'a\nb\nc\nx y||\n');
    const none = pvm('run', `--backend=${backend()}`, busybox, 'wc', '-c'); // without --stdin: end of file at once
    assert.is(none.stdout.trim(), '0');
    const bad = pvm('run', '--env', 'NOEQUALS', busybox, 'true');
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /--env needs NAME=value/);
  }, { backends: ['kvm', 'process'] });
}
const stdioSkip = typeof busybox === 'string' ? 'busybox is a static Linux program: it needs the kvm or process backend' : busybox.skip;
console.warn(`(cli: ${stdioSkip}: "${stdioTitle}" is SKIPPED${typeof busybox === 'string' ? ' on the other backends' : ''})`);
vm.skip(`${stdioTitle} [${stdioSkip}]`, typeof busybox === 'string' ? { backends: ['xen'] } : undefined);

suite.run();
