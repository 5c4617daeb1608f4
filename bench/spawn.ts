// spawn.firstInstruction, spawn.toExit: boot a hello pVM; baseline posix_spawn + wait
// of a static hello process (bench/native/spawn-baseline.c), same run.
import { Host, builtinGuest } from '../lib/index.js';
import { median, round, runNative, type Result } from './lib.js';
import { join } from 'node:path';
import { nativeDir } from '../lib/paths.js';

/**
 * Spawns hello (16 MiB) `runs` times after `warmup` more and collects, in µs, spawn to its
 * first exit (`first`) and spawn to the exit event (`toExit`). bench/xen.ts uses it too.
 */
export async function spawnHelloTimings(host: Host, runs: number, warmup: number): Promise<{ first: number[]; toExit: number[] }> {
  const first: number[] = [];
  const toExit: number[] = [];
  for (let i = 0; i < runs + warmup; i++) {
    const pvm = await host.spawn(builtinGuest('hello'), { memory: '16MiB', console: 'ignore' });
    await pvm.exited;
    const end = process.hrtime.bigint();
    if (i < warmup) continue;
    const t = pvm.timings;
    first.push(Number(t.firstExitNs! - t.spawnNs) / 1000);
    toExit.push(Number(end - t.spawnNs) / 1000);
  }
  return { first, toExit };
}

export async function benchSpawn(host: Host, runs: number): Promise<Result[]> {
  const { first, toExit } = await spawnHelloTimings(host, runs, 3);
  // The same with a spawn pool (monitors started ahead, VM and RAM ready), same run.
  const pooledHost = await Host.open({ spawnPool: 2, spawnPoolMemory: '16MiB' });
  const pooled: number[] = [];
  try {
    for (let i = 0; i < runs + 3; i++) {
      const pvm = await pooledHost.spawn(builtinGuest('hello'), { memory: '16MiB', console: 'ignore' });
      await pvm.exited;
      // Let the pool refill (off the critical path, as an application would).
      await new Promise((r) => setTimeout(r, 5));
      if (i < 3) continue;
      pooled.push(Number(pvm.timings.firstExitNs! - pvm.timings.spawnNs) / 1000);
    }
  } finally {
    await pooledHost.close();
  }
  const base = JSON.parse(await runNative('spawn-baseline', [join(nativeDir, 'hello-static'), String(runs)])) as {
    firstInstructionUs: number;
    toExitUs: number;
  };
  return [
    {
      name: 'spawn.firstInstruction',
      unit: 'us',
      value: round(median(first)),
      baseline: { name: 'posix_spawn of a static process, to main()', value: round(base.firstInstructionUs) },
    },
    {
      name: 'spawn.firstInstruction.pool',
      unit: 'us',
      value: round(median(pooled)),
      baseline: { name: 'spawn.firstInstruction without a pool', value: round(median(first)) },
    },
    {
      name: 'spawn.toExit',
      unit: 'us',
      value: round(median(toExit)),
      baseline: { name: 'posix_spawn + waitpid of a static hello', value: round(base.toExitUs) },
    },
  ];
}
