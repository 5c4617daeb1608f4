// fork.parentPaused.<N>MiB, fork.childReady.<N>MiB: fork an `idle` pVM that has touched
// half of its N MiB of RAM; baseline fork(2) of a plain process with the same memory,
// half touched (bench/native/fork-baseline.c), same run.
// fork.nodeChildProcess: child_process.fork() of a tiny Node script, to its first message.
import { fork as forkNode } from 'node:child_process';
import { once } from 'node:events';
import { Host, builtinGuest, type Pvm } from '../lib/index.js';
import { benchScript, median, round, runNative, wanted, type Only, type Result } from './lib.js';
import { benchReset } from './reset.js';

const SIZES_MIB = [16, 64, 256];
const WARMUP = 2;

/** Resolves once `text` has appeared on the pVM's console; rejects if it ends first. */
function waitForConsole(pvm: Pvm, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (!seen.includes(text)) return;
      pvm.console.off('data', onData);
      pvm.console.resume(); // keep draining whatever the guest prints later
      resolve();
    };
    pvm.console.on('data', onData);
    void pvm.exited.then((status) =>
      reject(new Error(`pVM ended before "${text}": ${JSON.stringify(status)}; console: ${JSON.stringify(seen)}`)),
    );
  });
}

async function benchPvmFork(
  host: Host,
  sizeMiB: number,
  runs: number,
  forkSpares = false,
): Promise<{ paused: number; ready: number; viaSpare: number }> {
  const parent = await host.spawn(builtinGuest('idle'), {
    memory: `${sizeMiB}MiB`,
    args: [String(sizeMiB / 2)],
    forkSpares,
  });
  const paused: number[] = [];
  const ready: number[] = [];
  let viaSpare = 0;
  try {
    await waitForConsole(parent, 'idle: ready');
    for (let i = 0; i < runs + WARMUP; i++) {
      // With spares: give the monitor the moment it takes to make the next one (it
      // waits 1 ms after a fork), as an application between requests would.
      if (forkSpares) await new Promise((r) => setTimeout(r, 5));
      const { child, channel, parentPausedUs, childReadyUs, viaSpare: spare } = await parent.fork();
      child.console.resume();
      child.kill();
      await child.exited;
      await channel?.close?.();
      if (i < WARMUP) continue;
      paused.push(parentPausedUs);
      ready.push(childReadyUs);
      if (spare) viaSpare++;
    }
  } finally {
    parent.kill();
    await parent.exited;
  }
  return { paused: median(paused), ready: median(ready), viaSpare };
}

async function benchNodeChildProcess(runs: number): Promise<number> {
  const script = benchScript('node-child.mjs');
  const times: number[] = [];
  for (let i = 0; i < runs + WARMUP; i++) {
    const t0 = process.hrtime.bigint();
    // execArgv: [] so the child does not inherit `--import tsx` from the bench.
    const child = forkNode(script, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = once(child, 'exit');
    const [message] = await Promise.race([
      once(child, 'message'),
      exited.then(([code, signal]) => {
        throw new Error(`node child ended before its message: code ${code}, signal ${signal}`);
      }),
    ]);
    const t1 = process.hrtime.bigint();
    if (message !== 'ready') throw new Error(`unexpected message from the node child: ${JSON.stringify(message)}`);
    child.kill('SIGKILL');
    await exited;
    if (i >= WARMUP) times.push(Number(t1 - t0) / 1000);
  }
  return median(times);
}

export async function benchFork(host: Host, runs: number, only?: Only): Promise<Result[]> {
  const paused: Result[] = [];
  const ready: Result[] = [];
  for (const size of SIZES_MIB) {
    const pausedName = `fork.parentPaused.${size}MiB`;
    const readyName = `fork.childReady.${size}MiB`;
    if (!wanted(pausedName, only) && !wanted(readyName, only)) continue;
    const pvm = await benchPvmFork(host, size, runs);
    const base = JSON.parse(await runNative('fork-baseline', [String(size), String(runs)])) as {
      forkReturnUs: number;
      forkExitWaitUs: number;
    };
    if (wanted(pausedName, only))
      paused.push({
        name: pausedName,
        unit: 'us',
        value: round(pvm.paused),
        baseline: { name: 'process fork', value: round(base.forkReturnUs) },
      });
    if (wanted(readyName, only))
      ready.push({
        name: readyName,
        unit: 'us',
        value: round(pvm.ready),
        baseline: { name: 'process fork+exit+wait', value: round(base.forkExitWaitUs) },
      });
  }
  const results = [...paused, ...ready];
  // Through a warm spare, 64 MiB (half touched; the idle parent writes next to nothing
  // between forks), against the plain path and process fork measured above.
  const spareNames = ['fork.parentPaused.64MiB.spare', 'fork.childReady.64MiB.spare'];
  if (spareNames.some((n) => wanted(n, only))) {
    const spare = await benchPvmFork(host, 64, runs, true);
    const plain = results.filter((r) => r.name.startsWith('fork.') && r.name.includes('.64MiB'));
    const plainOf = (name: string) => plain.find((r) => r.name === name)?.value;
    if (spare.viaSpare < runs) console.error(`fork spares: ${runs - spare.viaSpare} of ${runs} forks took the plain path`);
    const pausedPlain = plainOf('fork.parentPaused.64MiB');
    const readyPlain = plainOf('fork.childReady.64MiB');
    if (wanted(spareNames[0]!, only))
      results.push({
        name: spareNames[0]!,
        unit: 'us',
        value: round(spare.paused),
        ...(pausedPlain !== undefined ? { baseline: { name: 'fork.parentPaused.64MiB (no spare)', value: pausedPlain } } : {}),
      });
    if (wanted(spareNames[1]!, only))
      results.push({
        name: spareNames[1]!,
        unit: 'us',
        value: round(spare.ready),
        ...(readyPlain !== undefined ? { baseline: { name: 'fork.childReady.64MiB (no spare)', value: readyPlain } } : {}),
      });
  }
  if (wanted('fork.nodeChildProcess', only))
    results.push({ name: 'fork.nodeChildProcess', unit: 'us', value: round(await benchNodeChildProcess(runs)) });
  results.push(...(await benchReset(host, runs, only)));
  return results;
}
