// A few seconds of `npm run stress` (scripts/stress.ts) in a child process: random fork,
// exec, signal, waitpid, channel, connect, share and accept scenarios, several at once
// with CPU hogs and a fixed race delay in the monitors; none may hang or fail.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { packageRoot } from '../lib/paths.js';
import { vmSuite } from './_helpers.js';

const { suite, vm } = vmSuite('stress');

const SECONDS = 5;
const KILL_AFTER_MS = 50_000; // the harness bounds itself (10 s a scenario); this is a backstop

function runStress(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(packageRoot, 'scripts', 'stress.ts'), ...args], {
    cwd: packageRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const backstop = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(backstop);
      resolve({ code, output });
    }),
  );
}

vm(`npm run stress for ${SECONDS} s: scenarios run, none hangs or fails, nothing is left behind`, async () => {
  // A fixed, moderate delay: every monitor widens its racy windows by up to 300 µs.
  const { code, output } = await runStress(['--seconds', String(SECONDS), '--delay-us', '300', '--hogs', '2']);
  const last = output.trimEnd().split('\n').at(-1) ?? '';
  const m = /^stress: (\d+) scenarios in (\d+) s, (\d+) hangs, (\d+) failures$/.exec(last);
  assert.ok(m, `no summary line; the output was:\n${output}`);
  const [scenarios, hangs, failures] = [Number(m[1]), Number(m[3]), Number(m[4])];
  assert.ok(scenarios > 0, output);
  assert.is(hangs, 0, output);
  assert.is(failures, 0, output);
  assert.is(code, 0, output);
  assert.match(output, /monitors left: 0;/, output);
}, { timeoutMs: 60_000 });

suite.run();
