// The `.process` rows: the figures that show what virtualization costs here, measured
// again on the process backend, each with the kvm figure of the same run as its baseline.
// Where process cannot run (or this run is not on kvm) the rows say why, with no number.
import { Host, PvmError } from '../lib/index.js';
import type { Only, Result } from './lib.js';

/** The figures that also get a `<name>.process` row. */
export const ON_PROCESS: readonly string[] = [
  'spawn.firstInstruction',
  'fork.parentPaused.64MiB',
  'fork.childReady.64MiB',
  'hypercall.rtt',
  'ipc.pipe.rtt',
  'ipc.kill',
  'server.forkPerRequest.throughput',
  'fork.reset.16pages',
  'fork.reset.64pages',
  'fork.reset.256pages',
  'fork.reset.16pages.monitor',
  'fork.reset.64pages.monitor',
  'fork.reset.256pages.monitor',
  'linux.syscall.getpid',
  'linux.syscall.getpid.trapped',
];

/**
 * Of {@link ON_PROCESS}, the figures whose `.process` row keeps the baseline it was
 * measured with on process rather than the kvm figure: a reset against a fresh fork of
 * the same pVM on the same backend, in the same run (the kvm reset is its own row); a
 * Linux program's getpid against the same program run natively in that run.
 */
export const OWN_BASELINE_ON_PROCESS: readonly string[] = ON_PROCESS.filter((n) => n.startsWith('fork.reset.') || n.startsWith('linux.syscall.'));

/** A bench of bench/index.ts: its name prefix and how it runs on a host for some figures. */
export type Bench = readonly [prefix: string, run: (host: Host, only: Only) => Promise<Result[]>];

/** Runs `bench` with its progress shown (bench/index.ts's `progress`). */
export type WithProgress = (label: string, bench: () => Promise<Result[]>) => Promise<Result[]>;

/**
 * The `.process` rows of the {@link ON_PROCESS} figures in `measured` (this run's, on
 * `backend`), measured with `benches` on a Host of the process backend.
 */
export async function processRows(measured: readonly Result[], backend: string, benches: readonly Bench[], withProgress: WithProgress): Promise<Result[]> {
  const kvm = measured.filter((r) => ON_PROCESS.includes(r.name) && r.skipped === undefined);
  const skipAll = (why: string) => kvm.map((r) => skippedRow(r, why));
  if (kvm.length === 0) return [];
  if (backend !== 'kvm') return skipAll(`this run is on ${backend}, there is no kvm figure to compare with`);
  let host: Host;
  try {
    host = await Host.open({ backend: 'process' });
  } catch (err) {
    if (err instanceof PvmError) return skipAll(err.message); // e.g. "backend process: not built into this pvm"
    throw err;
  }
  const rows: Result[] = [];
  try {
    for (const [prefix, run] of benches) {
      const mine = kvm.filter((r) => r.name.startsWith(`${prefix}.`));
      if (mine.length === 0) continue;
      let got: Result[];
      try {
        got = await withProgress(`${prefix} on process`, () => run(host, mine.map((r) => r.name)));
      } catch (err) {
        rows.push(...mine.map((r) => skippedRow(r, `failed on process: ${err instanceof Error ? err.message : String(err)}`)));
        continue;
      }
      for (const r of mine) {
        const p = got.find((g) => g.name === r.name && g.skipped === undefined);
        const own = p?.baseline && OWN_BASELINE_ON_PROCESS.includes(r.name);
        rows.push(
          p
            ? {
                name: `${r.name}.process`,
                unit: r.unit,
                value: p.value,
                baseline: own ? { name: `${p.baseline!.name} on process`, value: p.baseline!.value } : { name: `${r.name} on kvm`, value: r.value },
              }
            : skippedRow(r, 'the process run gave no figure'),
        );
      }
    }
  } finally {
    await host.close();
  }
  return rows;
}

function skippedRow(kvm: Result, why: string): Result {
  return { name: `${kvm.name}.process`, unit: kvm.unit, value: NaN, skipped: why };
}
