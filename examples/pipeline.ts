// A pipeline of pVMs, built by fork like a shell pipeline:
//
//   source ──▶ prime ──▶ square ──▶ digitsum ──▶ sink ──▶ host
//
//   npm run example:pipeline                              1..200000 through the default stages
//   npm run example:pipeline -- --count 1000000 --stages prime,square
//
// The host spawns one pVM, examples/guests/pipeline.c. It is the source, and it forks
// the next stage, which forks the one after it, and so on: each link is the channel
// FORK made between a parent and its child, so every item travels from pVM to pVM
// through shared rings, never through the host or a monitor. The source sends the
// numbers 1..count, one message each; each stage transforms or filters them; the sink
// folds them into a count, a sum and an order-sensitive hash and sends that to the host
// on a channel the host gives it. The host computes the same in JavaScript and checks.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Host, PvmError, builtinGuest, describeExit, type ExitStatus, type Pvm } from '../lib/index.js';

/** Transform stages the guest knows. */
export type Stage = 'prime' | 'square' | 'digitsum';
export const STAGES: readonly Stage[] = ['prime', 'square', 'digitsum'];

/** What came out of the pipeline (or should have). */
export interface Outcome {
  count: bigint;
  sum: bigint;
  hash: bigint;
}

/** What {@link runPipeline} saw. */
export interface PipelineResult {
  /** What the sink reported. */
  got: Outcome;
  /** What the host computed. */
  expected: Outcome;
  /** Every pVM of the chain, source first, with how it ended. */
  pvms: Array<{ id: number; parent: number | null; stage: string; status: ExitStatus }>;
  /** Messages that crossed a pVM-to-pVM channel. */
  messages: number;
  /** Wall time from spawn to the sink's report, in ms. */
  ms: number;
  /** One line per stage, as the stages printed them. */
  lines: string[];
}

const MOD = 1_000_000_007n;
const MASK = (1n << 64n) - 1n;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The pipeline in JavaScript: what the sink must report. Also counts the messages sent. */
export function expectedOutcome(count: number, stages: readonly Stage[]): Outcome & { messages: number } {
  let items: bigint[] = Array.from({ length: count }, (_, i) => BigInt(i + 1));
  let messages = items.length; // source -> first stage
  for (const stage of stages) {
    if (stage === 'prime') items = items.filter((x) => isPrime(Number(x)));
    else if (stage === 'square') items = items.map((x) => ((x % MOD) * (x % MOD)) % MOD);
    else items = items.map((x) => [...x.toString()].reduce((s, d) => s + BigInt(d), 0n));
    messages += items.length;
  }
  let sum = 0n;
  let hash = 0n;
  for (const x of items) {
    sum = (sum + x) & MASK;
    hash = (hash * 31n + x) & MASK;
  }
  return { count: BigInt(items.length), sum, hash, messages };
}

/**
 * Runs `count` numbers through the `stages` (plus the source and the sink) on `host`
 * (default: a Host of its own, closed at the end) and checks the outcome.
 */
export async function runPipeline(options: {
  count: number;
  stages: readonly Stage[];
  host?: Host;
  log?: (line: string) => void;
}): Promise<PipelineResult> {
  const { count, stages } = options;
  if (!Number.isInteger(count) || count < 0) throw new PvmError('EINVAL', 'count: expected a whole number');
  for (const s of stages) if (!STAGES.includes(s)) throw new PvmError('EINVAL', `unknown stage ${JSON.stringify(s)}`);
  const host = options.host ?? (await Host.open());
  const names = ['source', ...stages, 'sink'];
  const chain: Array<{ pvm: Pvm; stage: string }> = [];
  const lines: string[] = [];
  const log = options.log ?? (() => {});
  try {
    const t0 = performance.now();
    let report!: (text: string) => void;
    let fail!: (err: Error) => void;
    const reported = new Promise<string>((resolve, reject) => ((report = resolve), (fail = reject)));

    // Each pVM of the chain appears as its parent's fork event; the deepest is the sink,
    // which waits for a channel to the host to report on.
    const track = (pvm: Pvm, depth: number): void => {
      chain[depth] = { pvm, stage: names[depth]! };
      pvm.console.on('data', (d: Buffer) => {
        for (const line of String(d).split('\n').filter(Boolean)) {
          lines.push(line);
          log(line);
        }
      });
      pvm.on('fork', ({ child }) => track(child, depth + 1));
      if (depth === names.length - 1) {
        void (async () => {
          const channel = await host.channel(pvm);
          try {
            const text = await channel.recv();
            if (text === null) throw new PvmError('EPIPE', `the sink (pVM ${pvm.id}) ${describeExit(await pvm.exited)} without a report`);
            report(String(text));
          } finally {
            channel.close();
          }
        })().catch(fail);
      }
    };
    const source = await host.spawn(builtinGuest('pipeline'), { memory: '16MiB', args: [String(count), ...stages] });
    track(source, 0);
    // A stage that fails makes the source exit non-zero before the sink reports.
    void source.exited.then((status) => {
      if (status.kind !== 'exit' || status.code !== 0) fail(new PvmError('EMONITOR', `the pipeline ${describeExit(status)}: ${lines.join('; ')}`));
    });
    const text = await reported;
    const ms = performance.now() - t0;
    const statuses = await Promise.all(chain.map((c) => c.pvm.exited));
    const m = /^count=(\d+) sum=(\d+) hash=(\d+)$/.exec(text);
    if (!m) throw new PvmError('EMONITOR', `the sink sent ${JSON.stringify(text)}`);
    const { messages, ...expected } = expectedOutcome(count, stages);
    return {
      got: { count: BigInt(m[1]!), sum: BigInt(m[2]!), hash: BigInt(m[3]!) },
      expected,
      pvms: chain.map((c, i) => ({ id: c.pvm.id, parent: c.pvm.parent?.id ?? null, stage: c.stage, status: statuses[i]! })),
      messages,
      ms,
      lines,
    };
  } finally {
    if (options.host) {
      for (const c of chain) c.pvm.kill('SIGKILL');
      await Promise.all(chain.map((c) => c.pvm.exited));
    } else {
      await host.close();
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '200000' },
      stages: { type: 'string', default: 'prime,square,digitsum' },
    },
  });
  const stages = values.stages.split(',').filter(Boolean) as Stage[];
  const r = await runPipeline({ count: Number(values.count), stages, log: (line) => console.log(`  ${line}`) });
  console.log(`chain: ${r.pvms.map((p) => `${p.stage} (pVM ${p.id})`).join(' -> ')} -> host`);
  console.log(`${r.messages} messages between ${r.pvms.length} pVMs in ${r.ms.toFixed(0)} ms (${Math.round(r.messages / (r.ms / 1000))} messages/s)`);
  const ok = r.got.count === r.expected.count && r.got.sum === r.expected.sum && r.got.hash === r.expected.hash;
  console.log(`sink: count=${r.got.count} sum=${r.got.sum} hash=${r.got.hash}; JavaScript says the same: ${ok}`);
  const notOk = r.pvms.filter((p) => p.status.kind !== 'exit' || p.status.code !== 0);
  if (!ok || notOk.length) {
    for (const p of notOk) console.log(`pVM ${p.id} (${p.stage}) ${describeExit(p.status)}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof PvmError ? `${err.code}: ${err.message}` : err);
    process.exitCode = 1;
  });
}
