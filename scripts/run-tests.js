#!/usr/bin/env node
// Runs the uvu suite (`node --import tsx node_modules/uvu/bin.js test`) and ends with
// one line `N passed, N failed`, which uvu itself does not print. Exit status: uvu's,
// or 1 when its summary is missing (a crash before the end counts as a failure).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const extra = process.argv.slice(2); // e.g. a file pattern: npm test -- fork
const pattern = extra[0] ?? '\\.test\\.ts$';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'test', pattern, '-i', 'guests', ...extra.slice(1)],
  { cwd: root, stdio: ['inherit', 'pipe', 'inherit'] },
);
// Each test has its own bound (test/_helpers.ts); this cap on the whole run is the last
// resort for what those cannot catch (a hook, or a test blocking the event loop). Past it
// the run is killed and counted as failed, naming the file it was in and showing what
// its pVMs were doing.
const limitMs = Number(process.env.PVM_TEST_TIMEOUT_MS ?? 20 * 60 * 1000);
let timedOut = false;
const timer = setTimeout(() => {
  timedOut = true;
  const files = [...out.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/^(\S+\.test\.ts)$/gm)].map((m) => m[1]);
  console.log(`\nthe test run took over ${limitMs / 1000} s: killed (last file started: ${files.at(-1) ?? 'none'})`);
  console.log(`its pVMs (pvm ps) before the kill:\n${pvmTrees(child.pid)}`);
  child.kill('SIGKILL');
}, limitMs);

/** The pVM trees of process `pid` and those under it, read by a separate node (through tsx). */
function pvmTrees(pid) {
  const script = `const { pvmTreesOf } = await import('./test/_trees.ts'); console.log(pvmTreesOf(${pid}));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000, // the cap must not hang in its turn
  });
  return (r.stdout + r.stderr).trimEnd() || `(pvm ps gave nothing: ${r.error?.message ?? `exit ${r.status}`})`;
}
let out = '';
child.stdout.on('data', (chunk) => {
  out += chunk;
  process.stdout.write(chunk);
});
child.on('close', (code, signal) => {
  clearTimeout(timer);
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (label) => {
    const m = new RegExp(`${label}:\\s+(\\d+)`).exec(plain);
    return m ? Number(m[1]) : undefined;
  };
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped') ?? 0;
  if (timedOut || total === undefined || passed === undefined) {
    console.log(`\n${passed ?? 0} passed, 1 failed (the test run ended without a summary: ${signal ?? 'exit ' + code})`);
    process.exit(1);
  }
  // uvu counts skipped tests apart from Total (Total = passed + failed).
  const failed = Math.max(0, total - passed);
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
