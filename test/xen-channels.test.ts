// Channels on Xen, the prototype (docs/xen-channels.md): scripts/xen-host/chan-probe.c,
// built here against libxen-dev and run in dom0, shows which mechanism puts one page into
// two HVM domains. What it must keep showing: a foreign gfn into a domU's physmap is
// refused, and one dom0 frame mapped into both domains as direct memory is shared by two
// running guests and dom0. Anywhere but dom0 (npm run test:xen runs it) it skips, loudly.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
const inDom0 = capabilities?.split(/\s+/).includes('control_d') ?? false;
if (!inDom0) console.warn(`\n!!! not in a Xen dom0 (/proc/xen/capabilities: ${capabilities ?? 'none'}): xen-channels tests are SKIPPED (npm run test:xen runs them) !!!\n`);
const test = inDom0 ? boundedTest : Object.assign((title: string) => boundedTest.skip(title), boundedTest);

const work = mkdtempSync(join(tmpdir(), 'pvm-xen-chan-'));
boundedTest.after(() => rmSync(work, { recursive: true, force: true }));

let output: string | undefined;
/** The probe's report, built and run once. */
function probe(): string {
  if (output !== undefined) return output;
  const exe = join(work, 'chan-probe');
  const libs = ['-lxenctrl', '-lxenforeignmemory', '-lxengnttab', '-lxenevtchn', '-lxencall'];
  execFileSync('cc', ['-O2', '-Wall', '-o', exe, join(packageRoot, 'scripts/xen-host/chan-probe.c'), ...libs], { stdio: 'inherit' });
  const r = spawnSync(exe, { encoding: 'utf8' });
  assert.is(r.status, 0, `chan-probe failed: ${r.stdout}${r.stderr}`);
  output = r.stdout;
  console.log(output);
  return output;
}

test("a domU's physmap takes no foreign page from dom0 (gmfn_foreign: EPERM)", () => {
  assert.match(probe(), /\(a\) add_to_physmap_batch\(B, foreign A, gmfn_foreign\): rc 0 .* errs\[0\] -1,/);
}, { timeoutMs: 300_000 });

test('one dom0 frame mapped into two domains as direct memory is shared by both guests and dom0', () => {
  const out = probe();
  assert.match(out, /\(e\) dom \d+: iomem_permission ok .* memory_mapping\(gfn 0x1004\) ok/);
  const guests = out.split('\n').filter((l) => l.startsWith('(f)'));
  assert.is(guests.length, 2, out);
  // A reads dom0's word and writes a0; B reads dom0's word and A's a0, writes a1; dom0 sees a1.
  assert.match(guests[0], /halted; read window words cafe0002 00000000; dom0's page now cafe0002 000000a0/);
  assert.match(guests[1], /halted; read window words cafe0002 000000a0; dom0's page now cafe0002 000000a1/);
  assert.not.match(out, /\(g\).*FAILED/);
}, { timeoutMs: 300_000 });

test('two dom0 processes ring each other over an interdomain event channel (the doorbell)', () => {
  assert.match(probe(), /doorbell: evtchn ping-pong between two dom0 processes: median [\d.]+ us/);
}, { timeoutMs: 300_000 });

test.run();
