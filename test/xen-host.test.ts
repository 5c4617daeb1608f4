// The Xen test host (npm run test:xen) from inside: this is Xen's dom0, and a program
// built here with libxen-dev (what pvm's xen backend links) sees Xen 4.17 with HVM and
// HAP, and no domain but dom0 (nothing left from a previous test). Anywhere else (not
// dom0, e.g. `npm test` on a KVM machine) every test here skips, loudly.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { packageRoot } from '../lib/paths.js';
import { test as boundedTest } from './_helpers.js';

const capabilities = (() => {
  try {
    return readFileSync('/proc/xen/capabilities', 'utf8').trim();
  } catch {
    return undefined;
  }
})();
/** Xen's dom0 is the one domain whose capabilities say control_d. */
const inDom0 = capabilities?.split(/\s+/).includes('control_d') ?? false;
if (!inDom0) console.warn(`\n!!! not in a Xen dom0 (/proc/xen/capabilities: ${capabilities ?? 'none'}): xen-host tests are SKIPPED (npm run test:xen runs them) !!!\n`);
const test = inDom0 ? boundedTest : Object.assign((title: string) => boundedTest.skip(title), boundedTest);

const work = mkdtempSync(join(tmpdir(), 'pvm-xen-host-'));
boundedTest.after(() => rmSync(work, { recursive: true, force: true }));

interface Probe {
  major: number;
  minor: number;
  extra: string;
  hvm: boolean;
  hap: boolean;
  pv: boolean;
  cpus: number;
  totalPages: number;
  freePages: number;
  domains: number[];
}

/** test/fixtures/xen-probe.c, built here with this machine's cc against libxen-dev, run. */
function probe(): Probe {
  const exe = join(work, 'xen-probe');
  if (!existsSync(exe)) execFileSync('cc', ['-O2', '-Wall', '-o', exe, join(packageRoot, 'test/fixtures/xen-probe.c'), '-lxenctrl'], { stdio: 'inherit' });
  const r = spawnSync(exe, { encoding: 'utf8' });
  assert.is(r.status, 0, `xen-probe failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as Probe;
}

test('this is dom0 of a Xen host: privcmd and the event channel device are there', () => {
  assert.ok(existsSync('/dev/xen/privcmd'), '/dev/xen/privcmd');
  assert.ok(existsSync('/dev/xen/evtchn'), '/dev/xen/evtchn');
});

test('libxenctrl sees Xen 4.17 offering HVM with HAP (what the xen backend needs)', () => {
  const p = probe();
  assert.is(`${p.major}.${p.minor}`, '4.17', JSON.stringify(p));
  assert.ok(p.hvm, `no HVM: ${JSON.stringify(p)}`);
  assert.ok(p.hap, `no HAP: ${JSON.stringify(p)}`);
  assert.ok(p.freePages * 4096 >= 512 << 20, `under 512 MiB free for domains: ${JSON.stringify(p)}`);
  console.log(`xen-host: Xen ${p.major}.${p.minor}${p.extra}, ${p.cpus} CPUs, ${(p.freePages / 256).toFixed(0)} MiB free for domains`);
}, { timeoutMs: 300_000 });

test('no domain but dom0 exists', () => {
  assert.equal(probe().domains, [0]);
});

test.run();
