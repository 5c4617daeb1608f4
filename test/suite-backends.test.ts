// The suite's backends (test/_backends.ts, vmSuite in test/_helpers.ts): which backends a
// run covers, and how one file's tests and hooks run once per backend. No pVM needed.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { ProbeAnswer } from '../lib/backends.js';
import { packageRoot } from '../lib/paths.js';
import { planBackends, wants, type PlannedBackend } from './_backends.js';
import { test } from './_helpers.js';

/** A probe where the named backends work and the rest are not built. */
const probeOf = (...working: string[]) => (name: string): ProbeAnswer =>
  working.includes(name) ? { ok: true, errno: 0 } : { ok: false, errno: 0, message: 'not built into this pvm' };
const notBuilt = 'not built into this pvm';

test('a run covers every backend, each saying whether it runs and why not', () => {
  assert.equal(planBackends(undefined, probeOf('kvm')), [
    { name: 'kvm', ok: true },
    { name: 'xen', ok: false, reason: notBuilt },
    { name: 'process', ok: false, reason: notBuilt },
  ]);
  // The moment process answers ok (or kvm does not), its half runs.
  assert.equal(planBackends('', probeOf('kvm', 'process')).map((b) => b.ok), [true, false, true]);
  assert.equal(planBackends(undefined, probeOf('process')).map((b) => b.ok), [false, false, true]);
});

test('PVM_BACKEND restricts a run to one backend; auto to the one it picks; unknown throws', () => {
  assert.equal(planBackends('process', probeOf('kvm')), [{ name: 'process', ok: false, reason: notBuilt }]);
  assert.equal(planBackends('kvm', probeOf('kvm', 'process')), [{ name: 'kvm', ok: true }]);
  assert.equal(planBackends('auto', probeOf('process', 'xen')), [{ name: 'xen', ok: true }]);
  assert.equal(planBackends('auto', probeOf('process')), [{ name: 'process', ok: true }]);
  assert.equal(planBackends('auto', probeOf()).map((b) => b.name), ['kvm', 'xen', 'process']);
  assert.throws(() => planBackends('qemu', probeOf('kvm')), /PVM_BACKEND: unknown backend "qemu"/);
});

test("a test's backends: all by default, a list, or the run's first that works", () => {
  const plan: PlannedBackend[] = [{ name: 'kvm', ok: false, reason: 'no /dev/kvm' }, { name: 'process', ok: true }];
  assert.ok(wants(undefined, 'kvm', plan) && wants(undefined, 'process', plan));
  assert.ok(wants(['kvm'], 'kvm', plan) && !wants(['kvm'], 'process', plan));
  assert.ok(!wants('first', 'kvm', plan) && wants('first', 'process', plan));
  // None works: 'first' is the first backend, so the test shows as skipped there.
  assert.ok(wants('first', 'kvm', [{ name: 'kvm', ok: false }, { name: 'process', ok: false }]));
});

test('a vmSuite runs once per backend that works, hooks and all; PVM_BACKEND is its backend meanwhile', () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PVM_BACKEND;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('test', 'fixtures', 'backend-halves.ts')], {
    cwd: packageRoot,
    env,
    encoding: 'utf8',
    timeout: 30_000,
  });
  const output = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '');
  const seen = [...output.matchAll(/<([^>]+)>/g)].map((m) => m[1]);
  assert.equal(seen, [
    'before kvm PVM_BACKEND=kvm',
    'every kvm PVM_BACKEND=kvm',
    'kvm-only kvm PVM_BACKEND=kvm',
    'first kvm PVM_BACKEND=kvm',
    'after kvm PVM_BACKEND=kvm',
    'before process PVM_BACKEND=process',
    'every process PVM_BACKEND=process',
    'process-only process PVM_BACKEND=process',
    'after process PVM_BACKEND=process',
    'kvm-file kvm PVM_BACKEND=kvm',
    'end PVM_BACKEND=unset',
  ], output);
  // Each half is titled with its backend; xen's test is counted as skipped, its hooks never ran.
  for (const name of ['[kvm] halves', '[process] halves', '[xen] halves', '[kvm] a kvm file']) assert.ok(output.includes(` ${name} `), output);
  assert.not.ok(output.includes('[process] a kvm file') || output.includes('[xen] a kvm file'), output);
  assert.match(output, /Total: +7\n +Passed: +7\n +Skipped: +1\n/, output);
  assert.is(r.status, 0, output);
});

test.run();
