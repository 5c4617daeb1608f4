// exec.toFirstInstruction: a waiting pVM execs a hello image; from pvm.exec() to the new
// image's first exit. Baselines from the same run: spawn.firstInstruction of the same
// hello (what exec saves), and execve(2) of a static binary until its main().
import { join } from 'node:path';
import { Host, builtinGuest } from '../lib/index.js';
import { nativeDir } from '../lib/paths.js';
import { median, round, runNative, type Result } from './lib.js';

async function readyIdle(host: Host) {
  const pvm = await host.spawn(builtinGuest('idle'), { memory: '16MiB' });
  await new Promise<void>((resolve) => {
    let seen = '';
    pvm.console.on('data', (d: Buffer) => (seen += d).includes('idle: ready') && resolve());
  });
  return pvm;
}

export async function benchExec(host: Host, runs: number): Promise<Result[]> {
  const exec: number[] = [];
  const spawn: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const pvm = await readyIdle(host);
    const t0 = process.hrtime.bigint();
    await pvm.exec(builtinGuest('hello'), { args: ['exec'] });
    await pvm.exited;
    const fresh = await host.spawn(builtinGuest('hello'), { memory: '16MiB', console: 'ignore' });
    await fresh.exited;
    if (i < 3) continue; // warm-up
    exec.push(Number(pvm.timings.firstExitNs! - t0) / 1000);
    spawn.push(Number(fresh.timings.firstExitNs! - fresh.timings.spawnNs) / 1000);
  }
  const base = JSON.parse(await runNative('exec-baseline', [join(nativeDir, 'hello-static'), String(runs)])) as {
    execveUs: number;
  };
  return [
    {
      name: 'exec.toFirstInstruction',
      unit: 'us',
      value: round(median(exec)),
      baseline: { name: 'spawn.firstInstruction of the same image', value: round(median(spawn)) },
    },
    {
      name: 'exec.toFirstInstruction.vsExecve',
      unit: 'us',
      value: round(median(exec)),
      baseline: { name: 'execve(2) of a static binary, to main()', value: round(base.execveUs) },
    },
  ];
}
