// The fuzz harnesses' saved inputs (fuzz/README.md): the seed corpus and every input
// that once crashed the monitor's code run again through the harnesses, built with the
// ordinary build (with AddressSanitizer and UBSan where they link). No /dev/kvm needed.
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { nativeDir, packageRoot } from '../lib/paths.js';

const HARNESSES = ['elf', 'control', 'hypercall', 'process'];

// Inputs under dir, as the replay runner counts them (recursively, no dot files).
function countInputs(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    n += statSync(path).isDirectory() ? countInputs(path) : 1;
  }
  return n;
}

for (const name of HARNESSES) {
  test(`fuzz-${name}: the seed corpus and the regression inputs replay clean`, () => {
    const runner = join(nativeDir, `fuzz-${name}-replay`);
    assert.ok(existsSync(runner), `${runner} is missing: the top-level build makes it (npm run build:native)`);
    const corpus = join(packageRoot, 'fuzz/corpus', name);
    const regressions = join(packageRoot, 'fuzz/regressions', name);
    assert.ok(existsSync(corpus), `${corpus} is missing`);
    const dirs = [corpus, regressions].filter((d) => existsSync(d));
    const expected = dirs.reduce((sum, d) => sum + countInputs(d), 0);

    const r = spawnSync(runner, dirs, { encoding: 'utf8', timeout: 120_000 });
    assert.is(r.status, 0, `fuzz-${name}-replay failed (${r.signal ?? r.status}):\n${r.stderr.slice(-4000)}`);
    const ran = /replay: (\d+) inputs/.exec(r.stdout);
    assert.ok(ran, `no summary from fuzz-${name}-replay: ${r.stdout}`);
    assert.ok(Number(ran![1]) > 0, 'no inputs ran');
    assert.is(Number(ran![1]), expected, 'every saved input ran');
  });
}

test.run();
