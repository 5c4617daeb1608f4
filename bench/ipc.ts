// ipc.*: inter-pVM communication, each figure next to two Linux processes doing the same
// thing in the same run. Guest side: test/guests/ipc_bench.c (a pVM forks a child with
// pvm_fork and the two talk); baseline: bench/native/ipc-baseline.c (fork(2) and the
// kernel's IPC). The guest times batches with rdtsc, calibrated against the TIME
// hypercall over the whole test (a TIME exit costs ~25 µs and stalls the caller long
// enough to change what a spinning peer does); every test has a ~100 ms warm-up. Each
// figure is the median of the batch means (of single runs for ipc.exitWait).
//
//   ipc.pipe.rtt          64 B guest→guest round trip over the fork channel used as a
//                         byte stream (pvm_pipe_write / pvm_pipe_read until the 64 B are
//                         in; the parent writes, the child echoes), with the runtime's
//                         defaults: a blocking call polls PVM_CHANNEL_SPIN (256) times,
//                         ~12-15 µs (longer, up to PVM_CHANNEL_SPIN_MAX polls, after
//                         sleeps that ended soon: the adaptive spin), then sleeps in
//                         WAIT and the peer NOTIFYs it. The pair settles either with
//                         both sides polling (<1 µs) or both going to sleep every time
//                         (~125 µs, more than noSpin); which one varies from run to run
//                         with the load (on a busy host a spinner may hold the CPU its
//                         peer needs). The two rows below are the two ends.
//                         Baseline (all three): two processes, a pipe each way.
//   ipc.pipe.rtt.spinning pvm_channel_spin = 10^6 (~50 ms of polling): both vCPUs poll,
//                         nobody sleeps, two CPUs busy (like ipc.shm.rtt plus the ring).
//   ipc.pipe.rtt.noSpin   pvm_channel_spin = 0: every read sleeps in WAIT and every write
//                         NOTIFYs: two exits and a wake-up each way (what a pipe does in
//                         the kernel, minus the exits).
//   ipc.msg.rtt           1 KiB round trip as messages (pvm_channel_send/recv, each recv
//                         returns one whole message), default spin. Underneath it is the
//                         same ring as ipc.pipe.* (the pipe calls are a thin layer over
//                         it that copies once more on the reader's side); what differs is
//                         the API, the size and the baseline: socketpair(AF_UNIX,
//                         SOCK_SEQPACKET), the kernel's message-preserving local socket.
//   ipc.kill              KILL(child, USR1) until the child's reply arrives: the child is
//                         blocked in pvm_channel_recv (spin 0, asleep in WAIT, no
//                         handler), gets -PVM_EINTR, takes the signal with
//                         pvm_signals() (from the boot-info page: no exit),
//                         replies 1 byte. Baseline: kill(SIGUSR1) to a process in
//                         sigwaitinfo that replies on a pipe.
//   ipc.exitWait.forkToWaitpid.16MiB
//                         one cycle of FORK (the child EXITs at once) + WAITPID returning
//                         its status, in a 16 MiB pVM with 8 MiB of heap touched.
//                         Baseline: fork + _exit + waitpid of a 16 MiB process, 8 MiB
//                         touched (4 KiB pages).
//   ipc.shm.rtt           ping-pong on a u32 in a SHM_CREATE region made before the
//                         fork, both sides spinning (no hypercall at all). Baseline: the
//                         same on a MAP_SHARED anonymous page.
//   ipc.pipe.throughput   MB/s of 64 KiB pvm_pipe_writes parent→child (each one message
//                         in the 256 KiB ring, so at most 3 in flight; the child reads
//                         with pvm_pipe_read, 64 KiB at a time), default spin, 8 batches
//                         of 8 MiB (64 MiB timed), a 1-byte ack per batch. Bimodal like
//                         ipc.pipe.rtt. Baseline: 64 KiB write()s into a pipe.
//   ipc.host.rtt          Node ↔ guest: channel.send + channel.recv of 64 B to the
//                         `idle` child the host forked (it echoes). Baseline: Node ↔ a
//                         native child process echoing over its stdio pipes
//                         (child.stdin.write, child.stdout 'data').
//
// A figure whose guest side fails (e.g. a hypercall the monitor does not have) is left
// out, with a note on stderr; the others still run.
import { spawn as spawnProcess } from 'node:child_process';
import { join } from 'node:path';
import { Host, builtinGuest, type Pvm } from '../lib/index.js';
import { nativeDir } from '../lib/paths.js';
import { median, round, runNative, wanted, type Only, type Result } from './lib.js';

/** What ipc_bench (guest) and ipc-baseline (native) print: one JSON line. */
interface Figures {
  test: string;
  bytes?: number;
  iters?: number;
  msgs?: number;
  batchNs?: number[];
  runNs?: number[];
  /** Guest only: the TSC calibration the ...Ns figures were computed with. */
  tsc?: { ticks: number; ns: number };
}

const GUEST_TIMEOUT_MS = 20_000;
const MEMORY = '16MiB';

function parseFigures(text: string, what: string): Figures {
  const line = text.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${what}: no JSON line in its output: ${JSON.stringify(text.slice(-2000))}`);
  return JSON.parse(line) as Figures;
}

/** Median of the batch means in µs per iteration (per run for runNs). */
export function medianUs(f: Figures): number {
  if (f.runNs) return median(f.runNs) / 1000;
  if (!f.batchNs || !f.iters) throw new Error(`figures without batches: ${JSON.stringify(f)}`);
  return median(f.batchNs.map((ns) => ns / f.iters!)) / 1000;
}

/** Median throughput of the batches in MB/s (10^6 bytes per second). */
function medianMBps(f: Figures): number {
  if (!f.batchNs || !f.bytes || !f.msgs) throw new Error(`figures without batches: ${JSON.stringify(f)}`);
  const perBatch = f.bytes * f.msgs;
  return median(f.batchNs.map((ns) => (perBatch / ns) * 1000));
}

/**
 * Runs `ipc_bench <args>` in a new pVM and returns the figures it prints. Drains the
 * consoles of the children it forks and waits for them too (they end when the parent
 * does); anything left after GUEST_TIMEOUT_MS is SIGKILLed and the run fails.
 */
export async function runGuest(host: Host, args: string[]): Promise<Figures> {
  const what = `ipc_bench ${args.join(' ')}`;
  const pvm = await host.spawn(builtinGuest('ipc_bench'), { memory: MEMORY, args });
  const children: Pvm[] = [];
  const childText: string[] = [];
  pvm.on('fork', ({ child }) => {
    children.push(child);
    const i = childText.push('') - 1;
    child.console.on('data', (chunk: Buffer) => (childText[i] += chunk.toString('latin1')));
  });
  let text = '';
  pvm.console.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    pvm.kill('SIGKILL'); // its children die with its monitor
    for (const c of children) c.kill('SIGKILL');
  }, GUEST_TIMEOUT_MS);
  try {
    const status = await pvm.exited;
    // The children end once their channel to the parent closes (or when told to stop,
    // for shm); exitwait's children are already gone.
    const ended = await Promise.race([
      Promise.all(children.map((c) => c.exited)).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 2000).unref()),
    ]);
    if (!ended) for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    const kids = childText.filter((t) => t).join(' | ');
    if (timedOut)
      throw new Error(`${what}: no result within ${GUEST_TIMEOUT_MS} ms; console: ${text.trim()}${kids ? `; children: ${kids}` : ''}`);
    if (status.kind !== 'exit' || status.code !== 0)
      throw new Error(`${what}: ended ${JSON.stringify(status)}; console: ${text.trim()}${kids ? `; children: ${kids}` : ''}`);
    return parseFigures(text, what);
  } finally {
    clearTimeout(timer);
  }
}

async function runBaseline(args: string[]): Promise<Figures> {
  return parseFigures(await runNative('ipc-baseline', args), `ipc-baseline ${args.join(' ')}`);
}

/** Host ↔ guest round trips over the channel of a host fork of `idle`, µs each. */
export async function hostRttPvm(host: Host, bytes: number, warmup: number, iters: number): Promise<number> {
  const parent = await host.spawn(builtinGuest('idle'), { memory: MEMORY });
  try {
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      parent.console.on('data', (chunk: Buffer) => {
        seen += chunk.toString('latin1');
        if (seen.includes('idle: ready')) resolve();
      });
      void parent.exited.then((s) => reject(new Error(`idle ended before it was ready: ${JSON.stringify(s)}`)));
    });
    const { child, channel } = await parent.fork();
    child.console.resume();
    const msg = Buffer.alloc(bytes, 0x5a);
    const times: number[] = [];
    for (let i = 0; i < warmup + iters; i++) {
      const t0 = process.hrtime.bigint();
      await channel.send(msg);
      const reply = await channel.recv();
      const t1 = process.hrtime.bigint();
      if (!reply || reply.length !== bytes) throw new Error(`idle child: bad echo (${reply?.length ?? 'end'})`);
      if (i >= warmup) times.push(Number(t1 - t0) / 1000);
    }
    channel.close();
    const status = await child.exited;
    if (status.kind !== 'exit' || status.code !== 0) throw new Error(`idle child ended ${JSON.stringify(status)}`);
    return median(times);
  } finally {
    parent.kill();
    await parent.exited;
  }
}

/** Node ↔ `ipc-baseline echo` over the child's stdin/stdout pipes, µs per round trip. */
async function hostRttProcess(bytes: number, warmup: number, iters: number): Promise<number> {
  const child = spawnProcess(join(nativeDir, 'ipc-baseline'), ['echo'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let got = 0;
  let wake: (() => void) | null = null;
  child.stdout.on('data', (chunk: Buffer) => {
    got += chunk.length;
    if (got >= bytes && wake) wake();
  });
  const msg = Buffer.alloc(bytes, 0x5a);
  const times: number[] = [];
  try {
    for (let i = 0; i < warmup + iters; i++) {
      const t0 = process.hrtime.bigint();
      const echoed = new Promise<void>((resolve) => (wake = resolve));
      child.stdin.write(msg);
      await Promise.race([
        echoed,
        exited.then((code) => {
          throw new Error(`ipc-baseline echo ended early (code ${code})`);
        }),
      ]);
      const t1 = process.hrtime.bigint();
      got -= bytes;
      wake = null;
      if (i >= warmup) times.push(Number(t1 - t0) / 1000);
    }
  } finally {
    child.stdin.end();
    await exited;
  }
  return median(times);
}

interface Spec {
  name: string;
  unit: 'us' | 'MB/s';
  guest: string[];
  baseline: string[];
  baselineName: string;
}

const RTT_ITERS = '500';
const BATCHES = '20';
const PIPE_64 = 'processes, pipe pair, 64 B';
const SPECS: Spec[] = [
  {
    name: 'ipc.pipe.rtt',
    unit: 'us',
    guest: ['pipe', '64', RTT_ITERS, BATCHES],
    baseline: ['pipe', '64', RTT_ITERS, BATCHES],
    baselineName: PIPE_64,
  },
  {
    name: 'ipc.pipe.rtt.spinning',
    unit: 'us',
    guest: ['pipe', '64', '2000', BATCHES, '1000000'],
    baseline: ['pipe', '64', RTT_ITERS, BATCHES],
    baselineName: PIPE_64,
  },
  {
    name: 'ipc.pipe.rtt.noSpin',
    unit: 'us',
    guest: ['pipe', '64', '200', BATCHES, '0'],
    baseline: ['pipe', '64', RTT_ITERS, BATCHES],
    baselineName: PIPE_64,
  },
  {
    name: 'ipc.msg.rtt',
    unit: 'us',
    guest: ['msg', '1024', RTT_ITERS, BATCHES],
    baseline: ['seqpacket', '1024', RTT_ITERS, BATCHES],
    baselineName: 'processes, AF_UNIX SOCK_SEQPACKET, 1 KiB',
  },
  {
    name: 'ipc.kill',
    unit: 'us',
    guest: ['kill', '50', BATCHES],
    baseline: ['kill', '50', BATCHES],
    baselineName: 'kill(SIGUSR1) → sigwaitinfo → pipe reply',
  },
  {
    name: 'ipc.exitWait.forkToWaitpid.16MiB',
    unit: 'us',
    guest: ['exitwait', '8', '30'],
    baseline: ['exitwait', '16', '8', '30'],
    baselineName: 'fork+_exit+waitpid, 16 MiB process',
  },
  {
    name: 'ipc.shm.rtt',
    unit: 'us',
    guest: ['shm', '2000', BATCHES],
    baseline: ['shm', '2000', BATCHES],
    baselineName: 'processes spinning on a MAP_SHARED page',
  },
  {
    name: 'ipc.pipe.throughput',
    unit: 'MB/s',
    guest: ['throughput', 'pipe', '65536', '128', '8'],
    baseline: ['throughput', '65536', '128', '8'],
    baselineName: 'processes, pipe, 64 KiB writes',
  },
];

export async function benchIpc(host: Host, only?: Only): Promise<Result[]> {
  const results: Result[] = [];
  const baselines = new Map<string, Promise<Figures>>(); // one run per distinct baseline
  for (const spec of SPECS) {
    if (!wanted(spec.name, only)) continue;
    let guest: Figures;
    try {
      guest = await runGuest(host, spec.guest);
    } catch (e) {
      process.stderr.write(`${spec.name}: left out: ${(e as Error).message}\n`);
      continue;
    }
    const key = spec.baseline.join(' ');
    if (!baselines.has(key)) baselines.set(key, runBaseline(spec.baseline));
    const base = await baselines.get(key)!;
    const value = spec.unit === 'MB/s' ? medianMBps(guest) : medianUs(guest);
    const baseValue = spec.unit === 'MB/s' ? medianMBps(base) : medianUs(base);
    const smaller = Math.min(value, baseValue);
    const digits = spec.unit === 'MB/s' ? 0 : smaller < 1 ? 3 : smaller < 10 ? 2 : 1;
    results.push({
      name: spec.name,
      unit: spec.unit,
      value: round(value, digits),
      baseline: { name: spec.baselineName, value: round(baseValue, digits) },
    });
  }
  if (wanted('ipc.host.rtt', only)) {
    let pvm: number | undefined;
    try {
      pvm = await hostRttPvm(host, 64, 200, 2000);
    } catch (e) {
      process.stderr.write(`ipc.host.rtt: left out: ${(e as Error).message}\n`);
    }
    if (pvm !== undefined) {
      const proc = await hostRttProcess(64, 200, 2000);
      results.push({
        name: 'ipc.host.rtt',
        unit: 'us',
        value: round(pvm),
        baseline: { name: 'Node ↔ process echoing on stdio pipes, 64 B', value: round(proc) },
      });
    }
  }
  return results;
}
