import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';
import { guest, vmSuite } from './_helpers.js';

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

suite.run();
