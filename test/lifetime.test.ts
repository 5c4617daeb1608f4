import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { eventually, vmSuite } from './_helpers.js';

const { suite, vm } = vmSuite('lifetime');
const childScript = fileURLToPath(new URL('./_host-child.ts', import.meta.url));

function alive(pid: number): boolean {
  // Gone or a zombie waiting for init counts as not running.
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function startHostProcess(count: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.on('exit', (code) => reject(new Error(`host process exited early (${code})`)));
  });
  return { child, pids };
}

vm('SIGKILL of the Node process leaves no monitor behind', async () => {
  const { child, pids } = await startHostProcess(3);
  assert.is(pids.length, 3);
  for (const pid of pids) assert.ok(alive(pid), `monitor ${pid} runs`);
  const ended = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await ended;
  assert.ok(await eventually(() => pids.every((p) => !alive(p)), 3000), `monitors left: ${pids.filter(alive)}`);
});

vm('a Node process that exits normally with live pVMs leaves no monitor behind', async () => {
  const { child, pids } = await startHostProcess(2);
  const ended = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await ended;
  assert.ok(await eventually(() => pids.every((p) => !alive(p)), 3000), `monitors left: ${pids.filter(alive)}`);
});

suite.run();
