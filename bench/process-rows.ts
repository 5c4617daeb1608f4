// What virtualization costs here: a few figures measured again on the process backend
// (no hypervisor: the guest runs inside its monitor process), as `<name>.process` rows
// with the figure of the same run on the main host's backend (kvm) as baseline.
import { Host } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import type { Result } from './lib.js';
import { benchSpawn } from './spawn.js';
import { benchFork } from './fork.js';
import { benchIpc } from './ipc.js';
import { benchHypercall } from './hypercall.js';

/** The figures repeated on process, and how to measure just that one. */
const FIGURES: Array<[string, (host: Host, runs: number) => Promise<Result[]>]> = [
  ['spawn.firstInstruction', (h, runs) => benchSpawn(h, runs)],
  ['fork.parentPaused.64MiB', (h, runs) => benchFork(h, Math.max(15, runs), 'fork.parentPaused.64MiB')],
  ['fork.childReady.64MiB', (h, runs) => benchFork(h, Math.max(15, runs), 'fork.childReady.64MiB')],
  ['hypercall.rtt', (h, runs) => benchHypercall(h, runs)],
  ['ipc.pipe.rtt', (h) => benchIpc(h, 'ipc.pipe.rtt')],
  ['ipc.kill', (h) => benchIpc(h, 'ipc.kill')],
  [
    'server.forkPerRequest.throughput',
    async (h) => (await import('./server.js')).benchServer(h, 'server.forkPerRequest.throughput'),
  ],
];

/**
 * `<name>.process` for every figure of FIGURES the main run measured (`measured`, on
 * backend `main`), or nothing when the main run is on process already or process cannot
 * run here (the reason goes to stderr).
 */
export async function processRows(measured: Result[], main: string, runs: number): Promise<Result[]> {
  const todo = FIGURES.filter(([name]) => measured.some((r) => r.name === name));
  if (todo.length === 0 || main === 'process') return [];
  const probe = loadAddon().probeBackend('process');
  if (!probe.ok) {
    process.stderr.write(`bench: no .process rows: the process backend cannot run here (${probe.message})\n`);
    return [];
  }
  const host = await Host.open({ backend: 'process' });
  const rows: Result[] = [];
  try {
    for (const [name, measure] of todo) {
      process.stderr.write(`bench: ${name} on process…\n`);
      const on = (await measure(host, runs)).find((r) => r.name === name);
      const base = measured.find((r) => r.name === name)!;
      if (!on) continue;
      rows.push({ name: `${name}.process`, unit: on.unit, value: on.value, baseline: { name: `${name} (${main}, this run)`, value: base.value } });
    }
  } finally {
    await host.close();
  }
  return rows;
}
