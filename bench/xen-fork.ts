// fork.parentPaused.xen, fork.childReady.xen (the path this hypervisor takes: memshr where
// it has memory sharing) and fork.*.xen.copy (the copying fork, chosen with PVM_XEN_FORK=copy
// in the monitors' environment): a guest fork of fork_plain (16 MiB, `kill` mode: one
// fork, the child killed), median over the runs; baseline, in the same run, a spawn from
// scratch of the same image and RAM to its first instruction (what a fork saves).
import { Host, builtinGuest, type Pvm } from '../lib/index.js';
import { median, round, type Result } from './lib.js';

const WARMUP = 1;

interface ForkTimes {
  paused: number[];
  ready: number[];
  paths: Set<string>;
  spawn: number[];
}

async function forkRuns(runs: number): Promise<ForkTimes> {
  // A host of its own: its monitors start with the environment as it is now.
  const host = await Host.open({ backend: 'xen' });
  const t: ForkTimes = { paused: [], ready: [], paths: new Set(), spawn: [] };
  try {
    for (let i = 0; i < runs + WARMUP; i++) {
      const pvm: Pvm = await host.spawn(builtinGuest('fork_plain'), { args: ['kill'], console: 'ignore', memory: '16MiB' });
      const fork = new Promise<{ parentPausedUs: number; childReadyUs: number; path: string }>((r) => pvm.once('fork', r));
      const end = await pvm.exited;
      if (end.kind !== 'exit' || end.code !== 0) throw new Error(`fork_plain kill: ${JSON.stringify(end)}`);
      const f = await fork;
      if (i < WARMUP) continue;
      t.paused.push(f.parentPausedUs);
      t.ready.push(f.childReadyUs);
      t.paths.add(f.path);
      t.spawn.push(Number(pvm.timings.firstExitNs! - pvm.timings.spawnNs) / 1000);
    }
  } finally {
    await host.close();
  }
  return t;
}

export async function benchXenFork(runs: number): Promise<Result[]> {
  const shared = await forkRuns(runs);
  const saved = process.env.PVM_XEN_FORK;
  process.env.PVM_XEN_FORK = 'copy';
  let copy: ForkTimes;
  try {
    copy = await forkRuns(runs);
  } finally {
    if (saved === undefined) delete process.env.PVM_XEN_FORK;
    else process.env.PVM_XEN_FORK = saved;
  }
  const spawn = round(median([...shared.spawn, ...copy.spawn]));
  const base = { name: 'spawn of the same image (fork_plain, 16 MiB) to its first instruction, same run', value: spawn };
  const path = [...shared.paths].join('+');
  const rows = (suffix: string, t: ForkTimes, what: string): Result[] => [
    { name: `fork.parentPaused.xen${suffix}`, unit: 'us', value: round(median(t.paused)), baseline: { ...base, name: `${what}; baseline: ${base.name}` } },
    { name: `fork.childReady.xen${suffix}`, unit: 'us', value: round(median(t.ready)), baseline: { ...base, name: `${what}; baseline: ${base.name}` } },
  ];
  return [...rows('', shared, `path ${path}`), ...rows('.copy', copy, `path ${[...copy.paths].join('+')}`)];
}
