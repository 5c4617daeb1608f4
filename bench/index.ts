// npm run bench [-- --json] [--runs N] [--only <prefix>]   (e.g. --only fork, --only fork.childReady.64MiB)
// Prints a table (or, with --json, one JSON array) of results, each with the baseline
// measured in the same run.
import { parseArgs } from 'node:util';
import { Host } from '../lib/index.js';
import { printTable, type Result } from './lib.js';
import { benchSpawn } from './spawn.js';
import { benchLoop } from './loop.js';
import { benchFork } from './fork.js';
import { benchIpc } from './ipc.js';
import { benchExec } from './exec.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
  },
});
const runs = Number(values.runs ?? 30);
const benches: Array<[string, (host: Host) => Promise<Result[]>]> = [
  ['spawn', (h) => benchSpawn(h, runs)],
  ['guest', (h) => benchLoop(h, Math.min(runs, 7))],
  // fork: 15 runs unless --runs says more (never fewer than 15); --only may name one figure.
  ['fork', (h) => benchFork(h, Math.max(15, Number(values.runs ?? 15)), values.only)],
  // ipc: fixed batch counts (see bench/ipc.ts); --only may name one figure.
  ['ipc', (h) => benchIpc(h, values.only)],
  ['exec', (h) => benchExec(h, Math.max(15, Number(values.runs ?? 15)))],
];

const host = await Host.open();
const results: Result[] = [];
try {
  for (const [prefix, bench] of benches) {
    if (values.only && !prefix.startsWith(values.only) && !values.only.startsWith(prefix)) continue;
    if (!values.json) process.stderr.write(`running ${prefix}…\n`);
    results.push(...(await bench(host)));
  }
} finally {
  await host.close();
}
if (values.json) console.log(JSON.stringify(results, null, 2));
else printTable(results);
