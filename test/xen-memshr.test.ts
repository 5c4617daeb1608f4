// Fork by memory sharing on xen (npm run test:xen -- --memshr; issue 19), in a Xen dom0:
// the fork path the hypervisor allows ('memshr' on the hypervisor built with
// CONFIG_MEM_SHARING, 'copy' on Debian's), pages shown shared with the template right after
// a fork and private once the child writes them (Xen's own counts), and templates along a
// chain of 100 forks freed when their last fork ends: nothing left behind, dom0's free
// memory back. Elsewhere every test here skips, loudly.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { Host, type Pvm } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import { packageRoot } from '../lib/paths.js';
import { eventually, guest, test as boundedTest, waitForLine } from './_helpers.js';

const probe = loadAddon().probeBackend('xen');
const onXen = process.env.PVM_BACKEND === 'xen' && probe.ok;
if (!onXen) console.warn(`\n!!! not a xen run (PVM_BACKEND=${process.env.PVM_BACKEND ?? ''}; xen: ${probe.ok ? 'ok' : probe.message}): xen-memshr tests are SKIPPED (npm run test:xen runs them) !!!\n`);
const test = onXen ? boundedTest : Object.assign((title: string) => boundedTest.skip(title), boundedTest);
// test:xen says which hypervisor it booted.
const memshr = process.env.PVM_XEN_MEMSHR === '1';
const expectedPath = memshr ? 'memshr' : 'copy';

const work = mkdtempSync(join(tmpdir(), 'pvm-xen-memshr-'));
boundedTest.after(() => rmSync(work, { recursive: true, force: true }));

interface DomainInfo {
  id: number;
  kind: 'pvm' | 'template' | 'other';
  owner: number;
  template: number;
  totPages: number;
  shrPages: number;
  dying: boolean;
}
interface Probe {
  freePages: number;
  sharedFrames: number;
  info: DomainInfo[];
}

/** Xen's view from test/fixtures/xen-probe.c (built here against libxen-dev), dom0 left out. */
function xen(): Probe {
  const exe = join(work, 'xen-probe');
  if (!existsSync(exe)) execFileSync('cc', ['-O2', '-o', exe, join(packageRoot, 'test/fixtures/xen-probe.c'), '-lxenctrl'], { stdio: 'inherit' });
  const p = JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as Probe;
  return { ...p, info: p.info.filter((d) => d.id !== 0) };
}

/** The living domain a monitor drives (its owner tag names the monitor's pid). */
function domainOf(pvm: Pvm): DomainInfo {
  const d = xen().info.find((i) => i.kind === 'pvm' && i.owner === pvm.pid && !i.dying);
  assert.ok(d, `no domain owned by monitor ${pvm.pid}: ${JSON.stringify(xen().info)}`);
  return d;
}

test(`a guest fork takes the path this hypervisor allows (${expectedPath}); shared pages shown, then private once written`, async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    const parent = await host.spawn(guest('fork_plain'), { args: ['share'], memory: '16MiB' });
    const parentOut: string[] = [];
    parent.console.on('data', (c: Buffer) => parentOut.push(c.toString()));
    const f = await new Promise<{ child: Pvm; path: string; parentPausedUs: number; childReadyUs: number }>((r) => parent.once('fork', r));
    assert.is(f.path, expectedPath);
    assert.ok(f.parentPausedUs > 0 && f.childReadyUs > 0);
    await waitForLine(f.child, 'share: read');
    const read = domainOf(f.child);
    const parentDomain = domainOf(parent);
    await new Promise((r) => setTimeout(r, 0));
    f.child.console.removeAllListeners('data');
    const written = waitForLine(f.child, 'share: written');
    assert.ok(f.child.kill('SIGUSR1'));
    await written;
    const after = domainOf(f.child);
    const all = xen().info;
    console.log(`xen-memshr: child after reading 1 MiB: ${read.shrPages} shared of ${read.totPages} pages; after writing it: ${after.shrPages} of ${after.totPages}; templates ${all.filter((d) => d.kind === 'template').length}`);
    if (memshr) {
      // The child and the parent's monitor both drive forks of one template.
      assert.ok(read.template !== 0 && read.template === parentDomain.template, `child ${JSON.stringify(read)} parent ${JSON.stringify(parentDomain)}`);
      assert.ok(all.some((d) => d.id === read.template && d.kind === 'template'), 'the template exists');
      assert.ok(read.shrPages >= 256, `the 1 MiB read is shared: ${read.shrPages}`);
      assert.ok(after.shrPages <= read.shrPages - 250, `written pages are the child's own: ${read.shrPages} -> ${after.shrPages}`);
      assert.ok(after.totPages >= read.totPages + 250, `and counted as its pages: ${read.totPages} -> ${after.totPages}`);
    } else {
      assert.is(read.shrPages, 0, 'a copying fork shares nothing');
    }
    assert.ok(f.child.kill('SIGUSR1'));
    assert.equal(await f.child.exited, { kind: 'exit', code: 0 });
    assert.equal(await parent.exited, { kind: 'exit', code: 0 }, parentOut.join(''));
    assert.ok(parentOut.join('').includes('share ok'), parentOut.join(''));
    assert.ok(await eventually(() => xen().info.length === 0, 10_000), `domains left: ${JSON.stringify(xen().info)}`);
  } finally {
    await host.close();
  }
});

test('a chain of 100 forks (each parent exits at once): templates freed when the last fork ends, dom0 free memory back', async () => {
  const generations = 100;
  const host = await Host.open({ backend: 'xen' });
  try {
    assert.equal(xen().info, [], 'no domain before');
    const before = xen().freePages;
    const started = Date.now();
    const pvms: Pvm[] = [];
    const paths = new Set<string>();
    const follow = (p: Pvm): void => {
      pvms.push(p);
      p.on('fork', (f: { child: Pvm; path: string }) => {
        paths.add(f.path);
        follow(f.child);
      });
    };
    const first = await host.spawn(guest('fork_plain'), { args: ['chain', String(generations)], console: 'ignore', memory: '16MiB' });
    follow(first);
    assert.ok(await eventually(() => pvms.length === generations + 1, 280_000), `${pvms.length - 1} forks made`);
    const last = pvms.at(-1)!;
    for (const p of pvms.slice(0, -1)) assert.equal(await p.exited, { kind: 'exit', code: 0 });
    assert.equal([...paths], [expectedPath]);
    // Every generation's own domain ended; the last one runs on a chain of templates.
    assert.ok(await eventually(() => xen().info.filter((d) => d.kind === 'pvm').length === 1, 30_000), JSON.stringify(xen().info));
    const held = xen();
    const templates = held.info.filter((d) => d.kind === 'template');
    const templatePages = templates.reduce((n, d) => n + d.totPages, 0);
    const mid = held.freePages;
    console.log(`xen-memshr: chain of ${generations} forks in ${((Date.now() - started) / 1000).toFixed(1)} s; held: ${templates.length} templates, ${templatePages} pages in them (root ${templates.find((d) => d.template === 0)?.totPages ?? 0}), the last fork ${domainOf(last).totPages} pages, ${held.sharedFrames} shared frames; dom0 free ${before} pages before, ${mid} now`);
    if (memshr) assert.is(templates.length, generations, 'one template per fork, each a fork of the one before');
    else assert.is(templates.length, 0);
    assert.ok(last.kill('SIGUSR1'));
    assert.equal(await last.exited, { kind: 'exit', code: 0 });
    assert.ok(await eventually(() => xen().info.length === 0, 30_000), `domains left: ${JSON.stringify(xen().info)}`);
    // Xen counts freed pages as free once it has scrubbed them (in the background).
    const back = await eventually(() => xen().freePages >= before - 256, 60_000);
    const after = xen().freePages;
    console.log(`xen-memshr: after the chain: dom0 free ${after} pages (${before - after} fewer than before)`);
    assert.ok(back, `free memory back: ${before} -> ${after}`);
  } finally {
    await host.close();
  }
});

// 64 on memshr (~170 MiB in all); 16 on the copy path, where each child is a full 16 MiB
// copy (64 took 1.1 GiB and most of a TCG run's time).
test(`${memshr ? 64 : 16} live children of one parent, then none: no domain, no template left`, async () => {
  const n = memshr ? 64 : 16;
  const host = await Host.open({ backend: 'xen' });
  try {
    const before = xen().freePages;
    const parent = await host.spawn(guest('fork_plain'), { args: ['many', String(n)], memory: '16MiB' });
    const children: Pvm[] = [];
    parent.on('fork', (f: { child: Pvm }) => children.push(f.child));
    let out = '';
    parent.console.on('data', (c: Buffer) => (out += c));
    await waitForLine(parent, `many: ${n} forked`);
    const held = xen();
    const templates = held.info.filter((d) => d.kind === 'template');
    console.log(`xen-memshr: ${n} live children: ${held.info.filter((d) => d.kind === 'pvm').length} pVM domains, ${templates.length} templates (${templates.reduce((s, d) => s + d.totPages, 0)} pages), dom0 free ${before} -> ${held.freePages} pages (${((before - held.freePages) / 256).toFixed(1)} MiB)`);
    assert.is(held.info.filter((d) => d.kind === 'pvm' && !d.dying).length, n + 1);
    // Each fork froze the parent's domain of the moment: a chain of n templates on the parent's side.
    assert.is(templates.length, memshr ? n : 0);
    // The last fork's event may come after the parent's line.
    assert.ok(await eventually(() => children.length === n, 30_000), `${children.length} fork events`);
    for (const c of children) assert.ok(c.kill('SIGUSR1'));
    assert.equal(await parent.exited, { kind: 'exit', code: 0 }, out);
    assert.ok(out.includes('many ok'), out);
    assert.ok(await eventually(() => xen().info.length === 0, 30_000), `domains left: ${JSON.stringify(xen().info)}`);
  } finally {
    await host.close();
  }
});

test('a killed child, then a SIGKILLed parent monitor (its children die with it): no domain, no template left', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    for (const victim of ['child', 'parent'] as const) {
      const parent = await host.spawn(guest('fork_plain'), { args: ['hold'], console: 'ignore', memory: '16MiB' });
      const { child } = await new Promise<{ child: Pvm }>((r) => parent.once('fork', r));
      assert.is(xen().info.filter((d) => d.kind === 'pvm').length, 2);
      assert.is(xen().info.filter((d) => d.kind === 'template').length, memshr ? 1 : 0);
      process.kill((victim === 'child' ? child : parent).pid, 'SIGKILL');
      await child.exited;
      // hold: the parent waits for its child and exits; SIGKILL of its monitor ends both.
      if (victim === 'child') assert.equal(await parent.exited, { kind: 'exit', code: 0 });
      else await parent.exited;
      assert.ok(await eventually(() => xen().info.length === 0, 10_000), `${victim}: domains left: ${JSON.stringify(xen().info)}`);
    }
  } finally {
    await host.close();
  }
});

boundedTest.run();
