// The guest's clock (pvm_time_ns, and clock_gettime in Linux programs): the host's
// CLOCK_MONOTONIC. On kvm it is read without an exit (rdtsc scaled by the boot-info
// page's tsc_khz from a base one TIME hypercall sets, again at each new clock_epoch and
// once a second); elsewhere each read is a TIME hypercall. Either way: never backwards,
// and in step with the host's clock, also in a fork child (another vCPU).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { nativeDir } from '../lib/paths.js';
import { guest, run, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('clock');
const ctx = withHost(suite);

/** The figures of a `time reads` line: first/last read (ns) and maxdiff (µs). */
function readsOf(text: string): Array<{ first: bigint; last: bigint; maxdiffUs: number }> {
  return [...text.matchAll(/first=(\d+) last=(\d+) backwards=0 maxdiff_us=(\d+)/g)].map((m) => ({
    first: BigInt(m[1]!),
    last: BigInt(m[2]!),
    maxdiffUs: Number(m[3]),
  }));
}

vm('200k reads never go backwards, agree with TIME hypercalls between them, and lie within the host clock around the pVM', async () => {
  const before = process.hrtime.bigint(); // CLOCK_MONOTONIC, as the guest's
  const { text, status } = await run(ctx.host, 'time', ['reads', '200000']);
  const after = process.hrtime.bigint();
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(text.includes('reads ok'), text);
  const [r] = readsOf(text);
  assert.ok(r, text);
  assert.ok(r.first >= before && r.last <= after && r.first <= r.last, `${text} host: ${before}..${after}`);
  // A TIME read lies between the clock's reads just before and after it; the bound only
  // allows for the base's own uncertainty (half an exit: long under nested emulation).
  assert.ok(r.maxdiffUs <= 2000, text);
});

vm("a fork child's clock is set again (its vCPU is another) and is as right as its parent's", async () => {
  const before = process.hrtime.bigint();
  const { text, status } = await run(ctx.host, 'time', ['fork', '100000']);
  const after = process.hrtime.bigint();
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(text.includes('child ok'), text);
  const [parent] = readsOf(text);
  assert.ok(parent && parent.first >= before && parent.last <= after && parent.maxdiffUs <= 2000, text);
});

vm('a timed WAIT of 20 ms lasts 20 ms by the clock', async () => {
  const { text, status } = await run(ctx.host, 'time', ['sleep', '20']);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  const us = Number(/slept_us=(\d+)/.exec(text)?.[1]);
  assert.ok(us >= 20_000 && us < 2_000_000, text);
});

// Where the clock needs no exit (kvm: the monitor gives tsc_khz), 200k reads make only the
// 200 comparison TIME hypercalls and a few more; counted by the monitor (--stats).
vm('on kvm reading the clock makes no exit', async () => {
  const r = spawnSync(join(nativeDir, 'pvm-drive'), [`--monitor=${join(nativeDir, 'pvm-monitor')}`, '--quiet', '--stats', guest('time'), 'reads', '200000'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = `${r.stdout}${r.stderr}`;
  const hypercalls = Number(/pvm-monitor stats: .* hypercalls=(\d+)/.exec(out)?.[1]);
  assert.ok(hypercalls >= 200 && hypercalls < 400, out);
}, { backends: ['kvm'] });

suite.run();
