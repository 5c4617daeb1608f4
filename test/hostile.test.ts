// Hostile guests: each misbehaviour ends or limits only the pVM that does it, with a
// readable reason, while a sibling pVM keeps answering and the host goes on.
// Already covered elsewhere, not repeated here: CPU faults of every kind, a wild write
// above RAM, stack overflow, an unknown hypercall (faults.test.ts); bad images, memory
// sizes and arguments at spawn (bad-input.test.ts); NOTIFY/WAIT/CLOSE/send on slot 5
// and NOTIFY of slot 100000 ('badslot'), EXEC with a path in page 0, argv outside RAM and
// RAM too small ('exec'), SHM_CREATE of 0 and slot+1 bytes ('shm') in family.test.ts;
// the 129th child of a guest with channels (fork.test.ts 'the child limit').
import * as assert from 'uvu/assert';
import { PvmError, type ExitStatus, type Pvm } from '../lib/index.js';
import {
  consoleOf,
  cpuTicks,
  eventually,
  guest,
  monitorsUnder,
  openFds,
  outputOf,
  statusKiB,
  vmSuite,
  withHost,
} from './_helpers.js';

const { suite, vm } = vmSuite('hostile');
const ctx = withHost(suite);

// The sibling: an idle pVM that lives through every test. The host forks it and echoes
// a message through the copy to show that it (and the host) still work.
let sibling: Pvm;
let trips = 0;
suite.before(async () => {
  sibling = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
  await consoleOf(sibling).until('idle: ready');
});

async function siblingAnswers(): Promise<number> {
  const t0 = performance.now();
  assert.ok(sibling.running, 'the sibling is gone');
  const { child, channel } = await sibling.fork();
  const msg = `ping ${++trips}`;
  await channel.send(msg);
  assert.is(String(await channel.recv()), msg);
  channel.close();
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  return performance.now() - t0;
}

// After a case: the sibling answers, the host spawns, and nothing of the case is left.
async function allElseFine(): Promise<void> {
  await siblingAnswers();
  const pvm = await ctx.host.spawn(guest('exitcode'), { args: ['3'], console: 'ignore', memory: '16MiB' });
  assert.equal(await pvm.exited, { kind: 'exit', code: 3 });
  assert.ok(await eventually(() => ctx.host.list().length === 1, 5000), `left: ${ctx.host.list().map((p) => p.id)}`);
  const only = () => monitorsUnder().join() === String(sibling.pid);
  assert.ok(await eventually(only, 5000), `monitors left: ${monitorsUnder()} (sibling ${sibling.pid})`);
}

// Liveness bounds, not speed (that is bench/): generous, as CI machines are shared.
const STALL_MS = 5000;
const LOOP_STALL_MS = 2000;

// Round trips through the sibling until `done` settles; returns how many and the slowest.
async function siblingAnswersUntil(done: Promise<unknown>): Promise<{ trips: number; maxMs: number }> {
  let over = false;
  void done.then(() => (over = true));
  let n = 0;
  let maxMs = 0;
  while (!over) {
    maxMs = Math.max(maxMs, await siblingAnswers());
    n++;
  }
  return { trips: n, maxMs };
}

function show(status: ExitStatus): string {
  return JSON.stringify(status, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
}

// Runs hostile.pvm in a checking mode: every check printed "ok ..." and none failed.
async function checks(mode: string, minimum: number) {
  const pvm = await ctx.host.spawn(guest('hostile'), { args: [mode], memory: '32MiB' });
  const forks: Pvm[] = [];
  pvm.on('fork', (f) => forks.push(f.child));
  const { text, status } = await outputOf(pvm);
  assert.not.match(text, /FAILED/, text);
  assert.match(text, new RegExp(`${mode}: \\d+ checks, 0 failed`), text);
  assert.ok(text.split('\n').filter((l) => l.startsWith('ok ')).length >= minimum, text);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  return { text, forks };
}

vm('pointers outside RAM, in page 0, non-canonical, and huge lengths: -EFAULT/-EINVAL, the guest goes on', async () => {
  // WAIT slots, WAITPID status, FORK channel_out, EXEC path/argv/RAM, SHM_CREATE size,
  // and the channel calls' lengths: one line per check (see test/guests/hostile.c).
  const { forks } = await checks('badptr', 55);
  // Only the three good FORKs made children, none of the bad ones.
  assert.ok(await eventually(() => forks.length === 3), `forks: ${forks.length}`);
  await allElseFine();
});

vm('bad channel ids (huge, truncating to an open slot, closed, shared memory): -EBADF', async () => {
  await checks('badid', 35);
  await allElseFine();
});

vm('a hypercall flood (200k): the pVM is not killed and finishes, a sibling answers during it', async () => {
  const pvm = await ctx.host.spawn(guest('hostile'), { args: ['flood', '200000'], memory: '16MiB' });
  const out = outputOf(pvm);
  const during = await siblingAnswersUntil(out);
  const { text, status } = await out;
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.match(text, /flood: 200000 hypercalls in \d+ ms/);
  assert.ok(during.trips >= 3, `only ${during.trips} round trips during the flood`);
  assert.ok(during.maxMs < STALL_MS, `a sibling round trip took ${during.maxMs.toFixed(1)} ms during the flood`);
  await allElseFine();
});

vm('a doorbell flood (100k NOTIFYs to the host): the host stays responsive, a sibling answers', async () => {
  let maxGap = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  try {
    const pvm = await ctx.host.spawn(guest('hostile'), { args: ['notifyflood', '100000'], memory: '16MiB' });
    await consoleOf(pvm).until('notifyflood: ready');
    const channel = await ctx.host.channel(pvm);
    const done = channel.recv();
    const during = await siblingAnswersUntil(done);
    assert.is(String(await done), 'done 100000');
    assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
    channel.close();
    assert.ok(during.trips >= 1 && during.maxMs < STALL_MS, JSON.stringify(during));
    assert.ok(maxGap < LOOP_STALL_MS, `the event loop stalled for ${maxGap.toFixed(1)} ms`);
  } finally {
    clearInterval(timer);
  }
  await allElseFine();
});

// Page tables of its own: a guest has them only in a VM (kvm); on process that area is
// plain RAM and reloading CR3 is a #GP: a fault either way.
vm('writing over its own page tables (zero, random, through the monitor): a fault with a readable message', async () => {
  for (const how of ['zero', 'random', 'monitor']) {
    const pvm = await ctx.host.spawn(guest('hostile'), { args: ['pagetables', how], memory: '16MiB' });
    const { text, status } = await outputOf(pvm);
    assert.ok(text.includes(`pagetables: about to ${how}`), text);
    assert.not.ok(text.includes('still alive'), `${how}: ${text}`);
    assert.is(status.kind, 'fault', `${how}: ${show(status)}`);
    if (status.kind !== 'fault') return;
    assert.ok(['exception', 'triple-fault', 'bad-memory'].includes(status.fault.kind), `${how}: ${show(status)}`);
    assert.match(status.fault.message, /fault|outside guest RAM/, `${how}: ${show(status)}`);
    assert.match(status.fault.message, /rip 0x[0-9a-f]+/, `${how}: ${show(status)}`);
  }
  await allElseFine();
});

vm('an infinite loop: kill() ends it (SIGTERM, and SIGKILL); the host and a sibling go on meanwhile', async () => {
  const spinners = await Promise.all(
    [0, 1].map(() => ctx.host.spawn(guest('hostile'), { args: ['spin'], memory: '16MiB' })),
  );
  await Promise.all(spinners.map((p) => consoleOf(p).until('spin: ready')));
  const before = spinners.map((p) => cpuTicks(p.pid));
  await siblingAnswers(); // with both CPUs of a small machine busy spinning
  // Each spinner burns CPU: wait until each has had 50 ms of it (a loaded machine shares
  // its cores out slowly; an event, not a fixed sleep).
  for (const [i, p] of spinners.entries()) {
    assert.ok(await eventually(() => cpuTicks(p.pid) - before[i]! >= 5, 20_000), `spinner ${i} is not spinning`);
  }
  assert.ok(spinners.every((p) => p.running));

  const t0 = performance.now();
  assert.ok(spinners[0]!.kill('SIGTERM'));
  assert.equal(await spinners[0]!.exited, { kind: 'killed', signal: 'SIGTERM' });
  assert.ok(spinners[1]!.running, 'the other spinner went too');
  assert.ok(spinners[1]!.kill('SIGKILL'));
  assert.equal(await spinners[1]!.exited, { kind: 'killed', signal: 'SIGKILL' });
  assert.ok(performance.now() - t0 < STALL_MS, `kill took ${(performance.now() - t0).toFixed(0)} ms`);
  await allElseFine();
});

vm('a fork bomb (depth 3, fan-out 8): the per-pVM limit holds, the monitors stay bounded, killing the root ends it all', async () => {
  // Bounded in depth (8 + 64 + 512 pVMs under the root, all alive at once) to stay under
  // the host's limit (limits.test.ts has that one). The root also forks children that
  // exit at once until FORK refuses: 128 children not waited for is the per-pVM limit.
  const fdsBefore = openFds();
  const root = await ctx.host.spawn(guest('hostile'), { args: ['bomb', '3', '8'], memory: '16MiB' });
  try {
    const rootConsole = consoleOf(root);
    const tree = 1 + 8 + 64 + 512;
    let most = 0;
    const end = Date.now() + 60_000;
    for (;;) {
      const now = monitorsUnder().length;
      most = Math.max(most, now);
      if (now >= 1 + tree && rootConsole.text().includes('bomb: ready')) break;
      assert.ok(Date.now() < end, `the bomb did not stand up: ${now} monitors, ${rootConsole.text()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(rootConsole.text(), /bomb: limit after 128 children: EAGAIN/);
    // The sibling, the tree, and at most the root's 120 short-lived children at a time.
    assert.ok(most <= 1 + tree + 120, `${most} monitors at most`);
    // The root's short-lived children drain away (slowly on a loaded machine); the tree
    // stays: exactly 1 + tree monitors (the sibling and the bomb) once they have.
    const settled = await eventually(() => monitorsUnder().length === 1 + tree, 20_000);
    assert.ok(settled, `the tree grew past its bound: ${monitorsUnder().length} monitors, ${1 + tree} due`);
    // The host's list too: a short-lived child's `exit` may still be on its way.
    assert.ok(await eventually(() => ctx.host.list().length === 1 + tree, 20_000), `${ctx.host.list().length} pVMs listed`);
    await siblingAnswers();

    const family = ctx.host.list().filter((p) => p !== sibling);
    assert.ok(root.kill('SIGKILL'));
    assert.equal(await root.exited, { kind: 'killed', signal: 'SIGKILL' });
    const statuses = await Promise.all(family.map((p) => p.exited));
    // Its descendants die with its monitor (PR_SET_PDEATHSIG): they end, whatever they report.
    assert.ok(statuses.every((s) => s.kind !== 'exit'), 'a pVM of the bomb exited by itself');
    assert.ok(await eventually(() => monitorsUnder().join() === String(sibling.pid), 10_000), String(monitorsUnder().length));
    const leaked = () => openFds().filter((fd) => !fdsBefore.includes(fd));
    assert.ok(await eventually(() => leaked().length === 0, 5000), String(leaked()));
    await allElseFine();
  } finally {
    // A failed assertion must not leave ~600 pVMs to fail the tests after it.
    if (root.running) {
      root.kill('SIGKILL');
      await root.exited;
    }
  }
}, { timeoutMs: 150_000 }); // the bomb may take a minute to stand up on a loaded machine

vm('memory exhaustion: malloc until NULL, then touch it all: it ends normally, within its RAM', async () => {
  const pvm = await ctx.host.spawn(guest('hostile'), { args: ['memhog'], memory: '128MiB' });
  let peakKiB = 0;
  const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, statusKiB(pvm.pid, 'VmRSS'))), 5);
  const { text, status } = await outputOf(pvm);
  clearInterval(sampler);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  const m = text.match(/memhog: (\d+) KiB of a (\d+) KiB heap, all touched/);
  assert.ok(m, text);
  assert.ok(Number(m![1]) > 0.95 * Number(m![2]), text);
  // RAM is what bounds it: the monitor never held much more than the guest's 128 MiB.
  assert.ok(peakKiB < (128 + 48) * 1024, `the monitor reached ${peakKiB} KiB`);
  await allElseFine();
});

vm('a spawn with 16 GiB of RAM is lazy: it runs, and holds only what it touches', async () => {
  let pvm: Pvm;
  try {
    pvm = await ctx.host.spawn(guest('idle'), { memory: '16GiB' });
  } catch (e) {
    // A host that cannot even map it must say so with a typed error.
    assert.instance(e, PvmError);
    assert.is((e as PvmError).code, 'ENOMEM', (e as Error).message);
    return;
  }
  await consoleOf(pvm).until('idle: ready');
  assert.ok(statusKiB(pvm.pid, 'VmRSS') < 64 * 1024, `${statusKiB(pvm.pid, 'VmRSS')} KiB resident`);
  const { child, channel } = await pvm.fork();
  await channel.send('touch 64');
  assert.is(String(await channel.recv()), 'touched 64');
  const childKiB = statusKiB(child.pid, 'VmRSS');
  assert.ok(childKiB >= 60 * 1024 && childKiB < 160 * 1024, `child: ${childKiB} KiB resident`);
  channel.close();
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  pvm.kill();
  assert.equal(await pvm.exited, { kind: 'killed', signal: 'SIGTERM' });
  await allElseFine();
});

vm('a console flood (64 MiB as fast as it can): all of it arrives, a sibling answers meanwhile', async () => {
  const pvm = await ctx.host.spawn(guest('hostile'), { args: ['spew', '64'], memory: '16MiB' });
  let bytes = 0;
  let tail = '';
  pvm.console.on('data', (d: Buffer) => {
    bytes += d.length;
    tail = (tail + d.toString('latin1')).slice(-64);
  });
  const during = await siblingAnswersUntil(pvm.exited);
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  await new Promise((r) => setImmediate(r));
  assert.is(bytes, 64 * 1024 * 1024 + 'spew: done\n'.length);
  assert.ok(tail.endsWith('spew: done\n'), tail);
  assert.ok(during.maxMs < STALL_MS, JSON.stringify(during));
  await allElseFine();
});

vm('a guest FORK whose child exits at once succeeds (the pidfd is had before the child can be reaped)', async () => {
  for (let i = 0; i < 3; i++) {
    const root = await ctx.host.spawn(guest('hostile'), { args: ['bomb', '0', '0'], memory: '16MiB' });
    const c = consoleOf(root);
    await c.until('bomb: ready');
    root.kill('SIGKILL');
    await root.exited;
    assert.match(c.text(), /bomb: limit after 128 children: EAGAIN/);
    assert.match(c.text(), /bomb: 0 other failures/);
  }
  await allElseFine();
});

vm('an EXEC argv of many pointers to one long string: E2BIG at once, the monitor copies no more than the args area', async () => {
  const pvm = await ctx.host.spawn(guest('hostile'), { args: ['execargs'], memory: '32MiB' });
  const c = consoleOf(pvm);
  await c.until('execargs:');
  await c.until('\n');
  const peakKiB = statusKiB(pvm.pid, 'VmHWM');
  pvm.kill();
  await pvm.exited;
  const m = c.text().match(/execargs: (\w+) after (\d+) ms/);
  assert.ok(m && m[1] === 'E2BIG', c.text());
  assert.ok(peakKiB < (32 + 64) * 1024, `the monitor peaked at ${peakKiB} KiB for a 32 MiB guest`);
  assert.ok(Number(m![2]) < STALL_MS, `EXEC took ${m![2]} ms`);
  await allElseFine();
});

vm('a console nobody reads holds up its guest, not the host: a bounded buffer, then all of it once read', async () => {
  const rss0 = process.memoryUsage().rss;
  const pvm = await ctx.host.spawn(guest('hostile'), { args: ['spew', '64'], memory: '16MiB' });
  await new Promise((r) => setTimeout(r, 1500));
  // 1 MiB high-water mark, plus what was already on its way to JS when it was reached.
  const bufferedMiB = pvm.console.readableLength / 2 ** 20;
  const grewMiB = (process.memoryUsage().rss - rss0) / 2 ** 20;
  try {
    assert.ok(pvm.running, 'the guest finished 64 MiB of output nobody read');
    assert.ok(bufferedMiB <= 16 && grewMiB < 48, `${bufferedMiB.toFixed(1)} MiB buffered, host RSS +${grewMiB.toFixed(0)} MiB`);
    await siblingAnswers(); // the host serves others meanwhile
  } catch (e) {
    pvm.kill('SIGKILL');
    pvm.console.resume();
    throw e;
  }
  // Reading it now gets every byte, in order, and the guest goes on to its end.
  let bytes = 0;
  let tail = '';
  for await (const chunk of pvm.console) {
    bytes += (chunk as Buffer).length;
    tail = (tail + (chunk as Buffer).toString('latin1')).slice(-64);
  }
  assert.is(bytes, 64 * 1024 * 1024 + 'spew: done\n'.length);
  assert.ok(tail.endsWith('spew: done\n'), tail);
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  await allElseFine();
});

vm('kill() ends a guest held up by its unread console', async () => {
  const pvm = await ctx.host.spawn(guest('hostile'), { args: ['spew', '256'], memory: '16MiB' });
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(pvm.running);
  assert.ok(pvm.kill());
  assert.equal(await pvm.exited, { kind: 'killed', signal: 'SIGTERM' });
  // What it wrote between the kill and its end is buffered (unbounded after a kill, as
  // documented): how much depends on how loaded the machine is, but it never finished.
  assert.ok(pvm.console.readableLength < 256 * 2 ** 20, `${pvm.console.readableLength} bytes buffered: the guest wrote all it meant to`);
  pvm.console.resume();
  await allElseFine();
});

suite.after(async () => {
  if (sibling?.running) {
    sibling.kill();
    await sibling.exited;
  }
});

suite.run();
