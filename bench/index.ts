// npm run bench [-- --json] [--runs N] [--only <prefix>] [--out <file.json>]
//   (e.g. --only fork, --only fork.childReady.64MiB; also `pvm bench`)
// Prints a table (or, with --json, one JSON array) of results, each with the baseline
// measured in the same run; progress goes to stderr. --out also writes the JSON to that
// file and an SVG chart next to it (same name, .svg). In a Xen dom0 (where Host.open()
// picks xen) it measures the xen figures of bench/xen.ts instead. The figures of bench/backends.ts's
// ON_PROCESS are measured again on the process backend as `<name>.process` rows, the kvm
// figure as baseline (or skipped, saying why, where process cannot run).
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, release } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Host } from '../lib/index.js';
import { printTable, type Only, type Result } from './lib.js';
import { processRows, type Bench } from './backends.js';
import { renderChart } from './chart.js';
import { benchSpawn } from './spawn.js';
import { benchLoop } from './loop.js';
import { benchFork } from './fork.js';
import { benchIpc } from './ipc.js';
import { benchExec } from './exec.js';
import { benchHypercall } from './hypercall.js';
import { benchXen } from './xen.js';
import { benchSnapshot } from './snapshot.js';
import { benchLinux } from './linux.js';
import { benchQuickJs } from './linux-quickjs.js';
import { benchLua } from './linux-lua.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const runs = Number(values.runs ?? 30);
// Each runs on a host for the figures `only` names (those that take it; --only here).
const benches: Bench[] = [
  ['spawn', (h) => benchSpawn(h, runs)],
  ['guest', (h) => benchLoop(h, Math.min(runs, 7))],
  ['hypercall', (h) => benchHypercall(h, runs)],
  // fork: 15 runs unless --runs says more (never fewer than 15); --only may name one figure.
  ['fork', (h, only: Only) => benchFork(h, Math.max(15, Number(values.runs ?? 15)), only)],
  // ipc: fixed batch counts (see bench/ipc.ts); --only may name one figure.
  ['ipc', (h, only: Only) => benchIpc(h, only)],
  ['exec', (h) => benchExec(h, Math.max(15, Number(values.runs ?? 15)))],
  ['snapshot', (h) => benchSnapshot(h, Math.max(10, Number(values.runs ?? 10)))], // snapshot.save.64MiB, spawn.fromSnapshot (bench/snapshot.ts)
  ['linux', (h, only: Only) => benchLinux(h, Math.min(runs, 10), only)], // linux.syscall.getpid: a static Linux program's syscall (bench/linux.ts)
  ['linux.quickjs', (h) => benchQuickJs(h, Math.min(runs, 10))], // QuickJS (built from its sources) in a pVM vs natively (bench/linux-quickjs.ts)
  ['linux.lua', (h) => benchLua(h, Math.min(runs, 10))], // Lua 5.4 (built from Debian's sources) in a pVM vs natively (bench/linux-lua.ts)
  ['linux.jsPerRequest', async (h, only: Only) => (await import('./js-per-request.js')).benchJsPerRequest(h, only)], // examples/js-per-request vs its handler in node:vm in-process (bench/js-per-request.ts)
  ['server', async (h, only: Only) => (await import('./server.js')).benchServer(h, only)], // fork-per-request server vs worker_threads / child_process (bench/server.ts)
];

const chosen = benches.filter(
  ([prefix]) => !values.only || prefix.startsWith(values.only) || values.only.startsWith(prefix),
);
if (chosen.length === 0) {
  console.error(`bench: nothing matches --only ${values.only} (have: ${benches.map(([p]) => p).join(', ')})`);
  process.exit(2);
}

// Progress on stderr: a line per benchmark, with a running clock on a terminal.
async function withProgress(label: string, bench: () => Promise<Result[]>): Promise<Result[]> {
  const done = progress(label);
  try {
    return await bench();
  } finally {
    done();
  }
}

function progress(label: string): () => void {
  const t0 = performance.now();
  const seconds = () => ((performance.now() - t0) / 1000).toFixed(1);
  if (!process.stderr.isTTY) {
    process.stderr.write(`${label}…\n`);
    return () => process.stderr.write(`${label} done in ${seconds()} s\n`);
  }
  const tick = setInterval(() => process.stderr.write(`\r${label}… ${seconds()} s`), 250);
  return () => {
    clearInterval(tick);
    process.stderr.write(`\r${label} done in ${seconds()} s\n`);
  };
}

const host = await Host.open();
// In a Xen dom0 (auto picks xen there) the bench is the xen figures (bench/xen.ts).
const plan: Bench[] = host.backend === 'xen' ? [['xen', (h) => benchXen(h, Math.min(runs, 10))]] : chosen;
const results: Result[] = [];
const started = performance.now();
try {
  for (const [step, [prefix, bench]] of plan.entries()) {
    results.push(...(await withProgress(`[${step + 1}/${plan.length}] ${prefix}`, () => bench(host, values.only))));
  }
  results.push(...(await processRows(results, host.backend, chosen, withProgress)));
} finally {
  await host.close();
}
process.stderr.write(`bench: ${results.length} figures in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
if (values.json) console.log(JSON.stringify(results, null, 2));
else printTable(results);
if (values.out) {
  const jsonPath = values.out.endsWith('.json') ? values.out : `${values.out}.json`;
  const svgPath = jsonPath.replace(/\.json$/, '.svg');
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? arch()}, Linux ${release()}`;
  writeFileSync(svgPath, renderChart(results, `pvm bench, ${new Date().toISOString().slice(0, 10)}: ${machine}`));
  process.stderr.write(`bench: wrote ${jsonPath} and ${svgPath}\n`);
}
