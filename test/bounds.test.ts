// Each test has a time bound (test/_helpers.ts): past it the test fails with the pVM
// trees and the run goes on. Tried on test/fixtures/bound-expiry.ts in a child process.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { packageRoot } from '../lib/paths.js';
import { backend, eventually, vmSuite } from './_helpers.js';
import { processTable } from './_trees.js';

const { suite, vm } = vmSuite('test bounds');

/** Runs a uvu file in a child node, as `npm test` runs test files (through tsx). */
function runFile(file: string): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: packageRoot,
    env: { ...process.env, PVM_TEST_BOUND_MS: '30000' }, // the fixture's untimed tests, whatever the outer run says
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output: output.replace(/\x1b\[[0-9;]*m/g, ''), ms: Date.now() - started })));
}

vm('a test past its bound fails with the pVM trees, and the run goes on', async () => {
  const { code, output, ms } = await runFile(join('test', 'fixtures', 'bound-expiry.ts'));
  // The fixture runs on this test's backend (PVM_BACKEND is set to it), and says so.
  const title = 'a family that waits for the host forever';
  const bound = `[${backend()}] bound expiry: ${title}`;
  assert.ok(output.includes(`the test "${bound}" exceeded its bound after 1.5 s`), output);
  assert.ok(output.includes(`FAIL  [${backend()}] bound expiry  "${title}"`), output); // failed as a test, in uvu's report
  // The trees: parent and forked child, each blocked in accept.
  const rows = [...output.matchAll(/^ {2}(?:└─ )?(\d+) +(\d+) +[\d.]+ MiB +\d+ s +(.+)$/gm)];
  assert.ok(rows.length >= 2, output);
  for (const row of rows) assert.match(row[3]!, /^wait for host \d+ s$/, output);
  assert.ok(output.includes('└─ '), output);
  // The hung body settled once the after hook killed its pVMs, and crashed nothing.
  assert.ok(output.includes(`(the test "${bound}", failed at its bound, has now thrown:`), output);
  assert.ok(output.includes('next test ran: "hello from pVM'), output);
  assert.match(output, /Total: +3\n +Passed: +2\n/, output);
  assert.not.match(output, /Unhandled|Exiting early/i, output);
  assert.is(code, 1, output); // one failed test: uvu's own exit status, not a crash
  assert.ok(ms < 20_000, `the child took ${ms} ms`);
  // Its monitors are gone (the after hook killed them; and they die with their host).
  const monitors = rows.map((r) => Number(r[2]));
  assert.ok(
    await eventually(() => {
      const table = processTable();
      return monitors.every((pid) => table.get(pid)?.name !== 'pvm-monitor');
    }),
    `monitors left: ${monitors.join(' ')}`,
  );
});

suite.run();
