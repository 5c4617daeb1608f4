// npm run soak [-- --seconds N] [--forks N] [--messages N] [--guest-cycles N] [--every N] [--fill]
//   (= node --expose-gc --import tsx scripts/soak.ts ...)
// A soak test, not part of `npm test`: one Host, one idle parent pVM, then rounds of
//  - host forks of the parent: fork -> echo one message -> close the channel -> the child
//    exits (default 2,000 cycles);
//  - channel messages between the host and a long-lived forked child that echoes them,
//    in batches, sizes from 1 B to 64 KiB, every echo checked byte for byte (default
//    100,000 messages);
//  - guest-side fork/exit/waitpid cycles (family.pvm `cycles`, half with a channel);
// sampling after every --every host fork cycles this process's open fds, its RSS (after
// a forced GC when --expose-gc is on), the pvm-monitor processes under it, the pVMs the
// host holds, and the parent monitor's fds and RSS. Bounded in time (default 180 s): it
// stops early at the limit and says so; with --fill the counts are minimums and it goes
// on, round after round, until the time limit. At the end it closes the host and prints what
// held: PASS, or FAIL if fds grew by more than a few, the JS heap (after a forced GC)
// grew by more than 20%, RSS kept growing through the second half of the run (more than
// 10% over the highest RSS of the first half: a leak grows steadily, while the allocator
// and V8 settle in steps and then stay), or a monitor was left over. Exit status 0 on
// PASS, 1 on FAIL.
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { builtinGuest, Host, MAX_MESSAGE, type Channel, type Pvm } from '../lib/index.js';
import { monitorsUnder, statusKiB } from '../test/_helpers.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '180' },
    forks: { type: 'string', default: '2000' },
    messages: { type: 'string', default: '100000' },
    'guest-cycles': { type: 'string', default: '2000' },
    every: { type: 'string', default: '100' },
    fill: { type: 'boolean', default: false },
  },
});
const limits = {
  seconds: Number(values.seconds),
  forks: Number(values.forks),
  messages: Number(values.messages),
  guestCycles: Number(values['guest-cycles']),
  every: Math.max(1, Number(values.every)),
};
for (const [k, v] of Object.entries(limits)) {
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${k}: expected a number >= 0, got ${v}`);
}

// What the verdict allows: a few fds more (libuv and V8 open some lazily), 20% RSS.
const FD_SLACK = 8;
const HEAP_SLACK = 0.2;
const RSS_SECOND_HALF_SLACK = 0.1;
const BATCH = 64; // messages in flight per batch (each way)
const GUEST_RUN = 100; // family `cycles 100`: 200 guest forks per run

const fill = values.fill ?? false;
const gc = (globalThis as { gc?: () => void }).gc;
const start = performance.now();
const deadline = start + limits.seconds * 1000;
const timeLeft = () => performance.now() < deadline;
const elapsed = () => (performance.now() - start) / 1000;

// ---- measurements ------------------------------------------------------------------

function countFds(pid: number | 'self' = 'self'): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

interface Sample {
  t: number;
  forks: number;
  messages: number;
  guestCycles: number;
  fds: number;
  rssKiB: number;
  heapKiB: number;
  monitors: number;
  pvms: number;
  parentFds: number;
  parentRssKiB: number;
}
const samples: Sample[] = [];

function sample(host: Host, parent: Pvm): Sample {
  gc?.();
  const s: Sample = {
    t: elapsed(),
    forks: done.forks,
    messages: done.messages,
    guestCycles: done.guestCycles,
    fds: countFds(),
    rssKiB: Math.round(process.memoryUsage().rss / 1024),
    heapKiB: Math.round(process.memoryUsage().heapUsed / 1024),
    monitors: monitorsUnder().length,
    pvms: host.list().length,
    parentFds: countFds(parent.pid),
    parentRssKiB: statusKiB(parent.pid, 'VmRSS'),
  };
  samples.push(s);
  console.log(
    `[${s.t.toFixed(1).padStart(6)} s] forks ${s.forks} messages ${s.messages} guest cycles ${s.guestCycles} | ` +
      `fds ${s.fds} rss ${(s.rssKiB / 1024).toFixed(1)} MiB heap ${(s.heapKiB / 1024).toFixed(1)} MiB monitors ${s.monitors} pvms ${s.pvms} | ` +
      `parent monitor: fds ${s.parentFds} rss ${(s.parentRssKiB / 1024).toFixed(1)} MiB`,
  );
  return s;
}

// ---- the work ----------------------------------------------------------------------

const done = { forks: 0, messages: 0, bytes: 0, guestCycles: 0, guestRuns: 0 };
const forkMs: number[] = [];

function waitForLine(pvm: Pvm, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d;
      if (seen.includes(line)) {
        pvm.console.off('data', onData);
        pvm.console.resume(); // keep draining what comes after
        resolve();
      }
    };
    pvm.console.on('data', onData);
    pvm.console.once('end', () => reject(new Error(`pVM ${pvm.id} ended before ${JSON.stringify(line)}: ${seen}`)));
  });
}

// One host fork cycle: fork -> echo one message -> close -> the child exits 0.
async function forkCycle(parent: Pvm): Promise<void> {
  const t0 = performance.now();
  const { child, channel } = await parent.fork();
  const msg = `cycle ${done.forks}`;
  await channel.send(msg);
  const back = await channel.recv();
  if (String(back) !== msg) throw new Error(`fork cycle ${done.forks}: echo gave ${String(back)}`);
  channel.close();
  const status = await child.exited;
  if (status.kind !== 'exit' || status.code !== 0) throw new Error(`fork cycle ${done.forks}: child ${JSON.stringify(status)}`);
  forkMs.push(performance.now() - t0);
  done.forks++;
}

// Message sizes: log-uniform over 1 B .. 64 KiB (fixed seed), both ends included often.
let seed = 0x2545f491;
function nextSize(i: number): number {
  if (i % 500 === 0) return MAX_MESSAGE;
  if (i % 500 === 1) return 1;
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  const u = (seed >>> 0) / 2 ** 32;
  return Math.max(1, Math.min(MAX_MESSAGE, Math.floor(2 ** (u * 16.0001))));
}

function message(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  if (size >= 4) b.writeUInt32LE(i >>> 0, 0);
  return b;
}

// One batch through the echo child: send and receive concurrently (a ring holds 256 KiB:
// sending a whole batch first could fill both rings and stall).
async function messageBatch(channel: Channel, count: number): Promise<void> {
  const first = done.messages;
  const sent: Buffer[] = [];
  for (let k = 0; k < count; k++) sent.push(message(first + k, nextSize(first + k)));
  const sending = (async () => {
    for (const m of sent) await channel.send(m);
  })();
  for (let k = 0; k < count; k++) {
    const back = await channel.recv();
    if (!back || !back.equals(sent[k]!)) {
      throw new Error(`message ${first + k}: sent ${sent[k]!.length} bytes, got ${back ? back.length : 'end of stream'}`);
    }
    done.bytes += back.length;
  }
  await sending;
  done.messages += count;
}

// One run of family.pvm `cycles`: GUEST_RUN fork/exit/waitpid cycles without a channel
// and GUEST_RUN with one, all in the guest; the host only sees the forks go by.
async function guestCycles(host: Host): Promise<void> {
  const pvm = await host.spawn(builtinGuest('family'), { args: ['cycles', String(GUEST_RUN)], memory: '16MiB' });
  let text = '';
  pvm.console.on('data', (d: Buffer) => (text += d));
  const status = await pvm.exited;
  if (status.kind !== 'exit' || status.code !== 0 || !text.includes('cycles ok')) {
    throw new Error(`family cycles: ${JSON.stringify(status)} ${text}`);
  }
  done.guestCycles += 2 * GUEST_RUN;
  done.guestRuns++;
}

// ---- the run -------------------------------------------------------------------------

const fdsBeforeHost = countFds();
const rssBeforeHost = process.memoryUsage().rss;
let error: unknown = null;
let stoppedAtLimit = false;
let monitorsLeft: number[] = [];
let fdsAfterClose = 0;

const host = await Host.open();
try {
  const parent = await host.spawn(builtinGuest('idle'), { memory: '32MiB' });
  await waitForLine(parent, 'idle: ready');
  const echo = await parent.fork();

  console.log(
    `soak: ${limits.forks} host fork cycles, ${limits.messages} messages, ${limits.guestCycles} guest cycles` +
      `${fill ? ' at least, more until the time limit' : ''}, at most ${limits.seconds} s` +
      `${gc ? '' : ' (no --expose-gc: RSS is sampled without a forced GC)'}`,
  );
  // Rounds of --every fork cycles, each with its share of the messages and guest runs.
  // The first round is the warm-up (V8, libuv and the allocator reach their working
  // set): the first sample, after it, is what the others are held to.
  const rounds = Math.max(1, Math.ceil(limits.forks / limits.every));
  const messagesPerRound = Math.ceil(limits.messages / rounds);
  const guestRunsPerRound = limits.guestCycles / (2 * GUEST_RUN) / rounds;
  let guestDebt = limits.guestCycles > 0 ? 1 : 0;
  const more = (have: number, target: number) => have < target || (fill && timeLeft());
  while (
    more(done.forks, limits.forks) ||
    more(done.messages, limits.messages) ||
    more(done.guestCycles, limits.guestCycles)
  ) {
    if (!timeLeft()) {
      stoppedAtLimit = true;
      break;
    }
    const forksDone = !more(done.forks, limits.forks);
    for (let i = 0; i < limits.every && more(done.forks, limits.forks) && timeLeft(); i++) await forkCycle(parent);
    // Messages: this round's share, or all that is left once the forks are done.
    let budget = forksDone ? limits.messages - done.messages : messagesPerRound;
    while (budget > 0 && more(done.messages, limits.messages) && timeLeft()) {
      const n = Math.min(BATCH, budget, fill ? BATCH : limits.messages - done.messages);
      await messageBatch(echo.channel, n);
      budget -= n;
    }
    guestDebt += forksDone ? Infinity : guestRunsPerRound;
    while (guestDebt >= 1 && more(done.guestCycles, limits.guestCycles) && timeLeft()) {
      await guestCycles(host);
      guestDebt--;
    }
    sample(host, parent);
  }
  echo.channel.close();
  const echoStatus = await echo.child.exited;
  if (echoStatus.kind !== 'exit') throw new Error(`echo child: ${JSON.stringify(echoStatus)}`);
  parent.kill();
  await parent.exited;
} catch (err) {
  error = err;
} finally {
  await host.close();
  // Monitors end right after their pVMs are reported; give stragglers a moment.
  for (let i = 0; i < 100 && (monitorsLeft = monitorsUnder()).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  gc?.();
  fdsAfterClose = countFds();
}

// ---- the verdict ---------------------------------------------------------------------

const first = samples[0];
const last = samples[samples.length - 1];
const max = (f: (s: Sample) => number) => Math.max(...samples.map(f));
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const problems: string[] = [];
if (error) problems.push(`error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
if (first && last) {
  if (last.fds - first.fds > FD_SLACK) problems.push(`fds grew from ${first.fds} to ${last.fds}`);
  if (last.heapKiB > first.heapKiB * (1 + HEAP_SLACK)) {
    problems.push(`the JS heap grew ${(((last.heapKiB - first.heapKiB) / first.heapKiB) * 100).toFixed(0)}% after the warm-up`);
  }
  const firstHalfMax = Math.max(...samples.slice(0, Math.ceil(samples.length / 2)).map((s) => s.rssKiB));
  if (last.rssKiB > firstHalfMax * (1 + RSS_SECOND_HALF_SLACK)) {
    problems.push(
      `RSS kept growing: ${mib(last.rssKiB)} at the end, ${mib(firstHalfMax)} at most in the first half of the run`,
    );
  }
  if (last.parentFds - first.parentFds > FD_SLACK) {
    problems.push(`the parent monitor's fds grew from ${first.parentFds} to ${last.parentFds}`);
  }
  if (last.pvms > first.pvms) problems.push(`the host holds ${last.pvms} pVMs, ${first.pvms} after the warm-up`);
} else {
  problems.push('no samples taken');
}
if (monitorsLeft.length > 0) problems.push(`${monitorsLeft.length} monitors left after close: ${monitorsLeft}`);
if (fdsAfterClose - fdsBeforeHost > FD_SLACK) {
  problems.push(`fds after close: ${fdsAfterClose}, before the host was opened: ${fdsBeforeHost}`);
}
const reached =
  done.forks >= limits.forks && done.messages >= limits.messages && done.guestCycles >= limits.guestCycles;
forkMs.sort((a, b) => a - b);
const pct = (p: number) => (forkMs.length ? forkMs[Math.min(forkMs.length - 1, Math.floor(p * forkMs.length))]!.toFixed(2) : '-');
const seconds = elapsed();

console.log('\n==== soak summary ====');
console.log(`time:            ${seconds.toFixed(1)} s (limit ${limits.seconds} s)${stoppedAtLimit ? ' -- STOPPED AT THE TIME LIMIT' : ''}`);
console.log(`host fork cycles ${done.forks} / ${limits.forks} (fork -> echo -> close -> exit; median ${pct(0.5)} ms, p99 ${pct(0.99)} ms)`);
console.log(
  `messages:        ${done.messages} / ${limits.messages} echoed and checked, 1 B .. 64 KiB, ` +
    `${(done.bytes / 2 ** 20).toFixed(0)} MiB each way`,
);
console.log(`guest cycles:    ${done.guestCycles} / ${limits.guestCycles} fork/exit/waitpid in ${done.guestRuns} family.pvm runs`);
if (first && last) {
  console.log(`samples:         ${samples.length}, every ${limits.every} host fork cycles, the first after the warm-up`);
  console.log(`host fds:        first ${first.fds}, last ${last.fds}, max ${max((s) => s.fds)} (before the host: ${fdsBeforeHost}, after close: ${fdsAfterClose})`);
  console.log(
    `host RSS:        first ${mib(first.rssKiB)}, last ${mib(last.rssKiB)}, max ${mib(max((s) => s.rssKiB))}` +
      ` (before the host: ${mib(rssBeforeHost / 1024)}${gc ? ', each after a forced GC' : ', no forced GC'})`,
  );
  console.log(`JS heap:         first ${mib(first.heapKiB)}, last ${mib(last.heapKiB)}, max ${mib(max((s) => s.heapKiB))}`);
  console.log(`monitors:        first ${first.monitors}, last ${last.monitors}, max ${max((s) => s.monitors)} while running; ${monitorsLeft.length} left after close`);
  console.log(`host pVMs:       first ${first.pvms}, last ${last.pvms}, max ${max((s) => s.pvms)}`);
  console.log(
    `parent monitor:  fds first ${first.parentFds}, last ${last.parentFds}, max ${max((s) => s.parentFds)}; ` +
      `RSS first ${mib(first.parentRssKiB)}, last ${mib(last.parentRssKiB)}, max ${mib(max((s) => s.parentRssKiB))}`,
  );
}
console.log(
  `held:            fds within +${FD_SLACK} and the JS heap within +${HEAP_SLACK * 100}% of the first sample, ` +
    `RSS within +${RSS_SECOND_HALF_SLACK * 100}% of the first half's highest, no monitor left after close`,
);
if (problems.length) {
  console.log(`FAIL\n  ${problems.join('\n  ')}`);
} else {
  console.log(reached ? 'PASS' : 'PASS (partial: the time limit came before every target was reached)');
}
process.exitCode = problems.length ? 1 : 0;
