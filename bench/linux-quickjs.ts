// linux.quickjs.toExit: `qjs -e 0` (QuickJS built from its sources with musl-gcc -static,
// scripts/linux-programs/quickjs.mjs) in a pVM, spawn to exit (ms, median); baseline: the
// same binary run natively (spawnSync to exit), same run.
// linux.quickjs.compute: a JavaScript workload (loops, objects, JSON, strings) timed by
// QuickJS itself (Date.now() around it, so start-up is not in it) in a pVM and natively.
import { spawnSync } from 'node:child_process';
import type { Host } from '../lib/index.js';
import { median, round, type Result } from './lib.js';

const WORKLOAD = [
  'const t0 = Date.now(); let acc = 0;',
  'for (let i = 0; i < 200000; i++) { const o = { i, s: "k" + i }; acc += JSON.stringify(o).length + o.s.charCodeAt(1); }',
  'console.log("ms=" + (Date.now() - t0) + " acc=" + acc);',
].join('\n');

function msOf(text: string): number {
  const m = /ms=(\d+) acc=/.exec(text);
  if (!m) throw new Error(`unexpected qjs output: ${text.slice(0, 200)}`);
  return Number(m[1]);
}

async function inPvm(host: Host, qjs: string, args: string[]): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const pvm = await host.spawn(qjs, { args, memory: '64MiB' });
  let text = '';
  for await (const chunk of pvm.console) text += chunk;
  const status = await pvm.exited;
  const ms = performance.now() - t0;
  if (status.kind !== 'exit' || status.code !== 0) throw new Error(`qjs in a pVM ended ${JSON.stringify(status)}: ${text.slice(0, 200)}`);
  return { ms, text };
}

function natively(qjs: string, args: string[]): { ms: number; text: string } {
  const t0 = performance.now();
  const r = spawnSync(qjs, args, { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`qjs natively: ${r.stderr}`);
  return { ms, text: r.stdout };
}

export async function benchQuickJs(host: Host, runs: number): Promise<Result[]> {
  const names = ['linux.quickjs.toExit', 'linux.quickjs.compute'];
  const skipped = (why: string): Result[] => names.map((name) => ({ name, unit: 'ms', value: NaN, skipped: why }));
  if (host.backend !== 'kvm' && host.backend !== 'process') return skipped(`Linux programs run on kvm and process (this host is ${host.backend})`);
  let qjs: string;
  try {
    // The build script is the checkout's, not the package's: loaded when there (from the
    // sources, not dist/), else the figures are skipped.
    const script = new URL('../scripts/linux-programs/quickjs.mjs', import.meta.url);
    const { buildQuickJs } = (await import(script.href)) as { buildQuickJs: () => Promise<string> };
    qjs = await buildQuickJs();
  } catch (err) {
    return skipped(`QuickJS cannot be built here (${(err as Error).message})`);
  }
  const exitPvm: number[] = [];
  const exitNative: number[] = [];
  const computePvm: number[] = [];
  const computeNative: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const a = await inPvm(host, qjs, ['-e', '0']);
    const b = natively(qjs, ['-e', '0']);
    const c = msOf((await inPvm(host, qjs, ['-e', WORKLOAD])).text);
    const d = msOf(natively(qjs, ['-e', WORKLOAD]).text);
    if (i === 0) continue; // warm-up: page cache, the spawn pool
    exitPvm.push(a.ms);
    exitNative.push(b.ms);
    computePvm.push(c);
    computeNative.push(d);
  }
  return [
    { name: names[0], unit: 'ms', value: round(median(exitPvm), 2), baseline: { name: 'the same qjs run natively (spawn to exit)', value: round(median(exitNative), 2) } },
    { name: names[1], unit: 'ms', value: round(median(computePvm), 1), baseline: { name: 'the same workload in qjs natively', value: round(median(computeNative), 1) } },
  ];
}
