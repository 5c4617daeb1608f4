// npm run bench [-- --json] [--runs N] [--only <prefix>]
// Prints a table (or, with --json, one JSON array) of results, each with the baseline
// measured in the same run.
import { parseArgs } from 'node:util';
import { Host } from '../lib/index.js';
import { printTable, type Result } from './lib.js';
import { benchSpawn } from './spawn.js';
import { benchLoop } from './loop.js';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '30' },
    only: { type: 'string' },
  },
});
const runs = Number(values.runs);
const benches: Array<[string, (host: Host) => Promise<Result[]>]> = [
  ['spawn', (h) => benchSpawn(h, runs)],
  ['guest', (h) => benchLoop(h, Math.min(runs, 7))],
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
