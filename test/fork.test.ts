import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { Host, PvmError, MAX_MESSAGE, type Channel, type ForkInfo, type Pvm } from '../lib/index.js';
import { consoleOf, cpuTicks, eventually, guest, rejects, monitorsUnder, notOnXen, openFds, outputOf, vmSuite, waitForLine, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('fork');
const ctx = withHost(suite);
// xen forks by copying the domain (no memory sharing yet, issue 19): its RAM is Xen's,
// copied, never in the monitor's Rss.
const vmSharedPages = notOnXen(vm, 'a copying fork: guest RAM is copied by Xen, not shared pages in the monitor');
// 128 live 16 MiB domains do not fit in the Xen test host (~2 GiB for domains).
const vmManyDomains = notOnXen(vm, '128 live domains do not fit in the Xen test host');

// Every fork the guest makes, in order, as the host saw it.
function collectForks(pvm: Pvm): ForkInfo[] {
  const forks: ForkInfo[] = [];
  pvm.on('fork', (f) => forks.push(f));
  return forks;
}

// kB of a /proc/<pid>/smaps_rollup field.
function smapsKb(pid: number, field: string): number {
  const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (!m) throw new Error(`no ${field} in smaps_rollup of ${pid}`);
  return Number(m[1]);
}

vm('FORK from the guest: 0 in the child, the child id in the parent, one channel both use', async () => {
  const parent = await ctx.host.spawn(guest('fork_basic'));
  const forks = collectForks(parent);
  const parentOut = outputOf(parent);
  await eventually(() => forks.length === 1);
  assert.is(forks.length, 1);
  const { child, parentPausedUs, childReadyUs, channelSlot } = forks[0]!;
  assert.is(child.parent, parent);
  assert.ok(parent.children.has(child) || !child.running);
  assert.ok(ctx.host.list().includes(child) || !child.running);
  const childOut = await outputOf(child);
  const { text, status } = await parentOut;
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.equal(childOut.status, { kind: 'exit', code: 7 }, childOut.text);
  assert.ok(text.includes(`parent: child=${child.id} slot=${channelSlot}`), text);
  assert.ok(text.includes('parent got: hello from child'), text);
  assert.ok(text.includes('parent: child closed'), text);
  assert.ok(
    childOut.text.includes(`child: id=${child.id} parent=${parent.id} fork_channel=${channelSlot} slot=${channelSlot}`),
    childOut.text,
  );
  assert.ok(childOut.text.includes('child got: hello from parent'), childOut.text);
  assert.ok(child.pid !== parent.pid && child.pid > 0);
  // Both measured inside the monitors from the same instant (the parent's stop); the
  // child cannot be ready before the fork(2) that made it, which the pause includes.
  assert.ok(parentPausedUs > 0 && Number.isFinite(childReadyUs), `${parentPausedUs} ${childReadyUs}`);
  assert.ok(childReadyUs > 0, `${childReadyUs}`);
  assert.is(parent.children.size, 0);
});

vm('isolation both ways: neither side sees the other one write after the fork', async () => {
  const parent = await ctx.host.spawn(guest('fork_isolation'), { memory: '32MiB' });
  const forks = collectForks(parent);
  const { text, status } = await outputOf(parent);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(text.includes('parent: isolation ok'), text);
  // 'fork' comes once the child is booted, which the host may learn after the parent's
  // end (another socket): the parent's end waits for it, as SIGCHLD comes after fork().
  assert.is(forks.length, 1, "the parent's fork event came before its exit");
  const child = await outputOf(forks[0]!.child);
  assert.equal(child.status, { kind: 'exit', code: 0 }, child.text);
  assert.ok(child.text.includes('child: isolation ok'), child.text);
});

vmSharedPages('pages are shared, not copied: the child owns only what it writes', async () => {
  const parent = await ctx.host.spawn(guest('idle'), { memory: '256MiB', args: ['128'] });
  await waitForLine(parent, 'idle: ready');
  const parentRss = smapsKb(parent.pid, 'Rss');
  assert.ok(parentRss > 128 * 1024, `parent Rss ${parentRss} kB`);
  const { child, channel } = await parent.fork();
  await channel.send('hello');
  assert.is(String(await channel.recv()), 'hello'); // the child runs
  const before = smapsKb(child.pid, 'Private_Dirty');
  const shared = smapsKb(child.pid, 'Rss');
  // 128 MiB of guest RAM is mapped in the child but still the parent's pages.
  assert.ok(shared > 128 * 1024, `child Rss ${shared} kB`);
  assert.ok(before < 16 * 1024, `child Private_Dirty ${before} kB right after the fork`);
  await channel.send('touch 32');
  assert.is(String(await channel.recv()), 'touched 32');
  const after = smapsKb(child.pid, 'Private_Dirty');
  assert.ok(after - before >= 30 * 1024, `child Private_Dirty ${before} -> ${after} kB after writing 32 MiB`);
  assert.ok(after < 64 * 1024, `child Private_Dirty ${after} kB`);
  channel.close();
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  parent.kill();
  await parent.exited;
});

vm('host fork: a channel between the host and the child, in both directions, with its limits', async () => {
  const parent = await ctx.host.spawn(guest('idle'), { args: ['1'] });
  await waitForLine(parent, 'idle: ready');
  const r = await parent.fork();
  assert.is(r.child.parent, parent);
  assert.ok(parent.children.has(r.child));
  assert.ok(r.parentPausedUs > 0 && r.childReadyUs > 0, `${r.parentPausedUs} ${r.childReadyUs}`);
  const big = Buffer.alloc(MAX_MESSAGE, 7);
  for (const m of [Buffer.from('x'), Buffer.alloc(0), big]) {
    await r.channel.send(m);
    assert.ok((await r.channel.recv())!.equals(m));
  }
  // Several in flight, order kept.
  for (let i = 0; i < 50; i++) await r.channel.send(`m${i}`);
  for (let i = 0; i < 50; i++) assert.is(String(await r.channel.recv()), `m${i}`);
  try {
    r.channel.trySend(Buffer.alloc(MAX_MESSAGE + 1));
    assert.unreachable('oversized message accepted');
  } catch (e) {
    assert.instance(e, PvmError);
    assert.is((e as PvmError).code, 'EMSGSIZE');
  }
  // The parent was not disturbed: it forks again.
  const again = await parent.fork();
  again.channel.close();
  assert.equal(await again.child.exited, { kind: 'exit', code: 0 });
  r.channel.close();
  assert.equal(await r.child.exited, { kind: 'exit', code: 0 });
  parent.kill();
  assert.equal(await parent.exited, { kind: 'killed', signal: 'SIGTERM' });
});

// Parent and child, both waiting, use (almost) no CPU for 500 ms; then the child still
// answers. Ends both. One that spins uses ~50 of the 100 ticks; the bound leaves room for a
// loaded machine's wake-ups and the monitors' bookkeeping.
async function bothSleepThenAnswer(parent: Pvm, child: Pvm, channel: Channel): Promise<void> {
  const before = cpuTicks(child.pid) + cpuTicks(parent.pid);
  await new Promise((r) => setTimeout(r, 500));
  const used = cpuTicks(child.pid) + cpuTicks(parent.pid) - before;
  assert.ok(used <= 15, `parent and child used ${used} ticks in 500 ms while waiting`);
  await channel.send('still there?');
  assert.is(String(await channel.recv()), 'still there?');
  channel.close();
  await child.exited;
  parent.kill();
  await parent.exited;
}

vm('a guest blocked in a channel receive sleeps: it does not burn the CPU', async () => {
  const parent = await ctx.host.spawn(guest('idle'));
  await waitForLine(parent, 'idle: ready');
  const { child, channel } = await parent.fork();
  await channel.send('up?');
  await channel.recv(); // the child now waits for the next message
  await bothSleepThenAnswer(parent, child, channel);
});

vm('a guest whose peer answered quickly spins longer, but still sleeps once the peer goes quiet', async () => {
  const parent = await ctx.host.spawn(guest('idle'));
  await waitForLine(parent, 'idle: ready');
  const { child, channel } = await parent.fork();
  // Quick round trips: each of the child's receives sleeps only briefly, so its runtime
  // learns to poll longer (the adaptive spin, up to pvm_channel_spin_max polls).
  for (let i = 0; i < 200; i++) {
    await channel.send(`ping ${i}`);
    assert.is(String(await channel.recv()), `ping ${i}`);
  }
  // Now nothing comes: the spin runs out (and halves) and the child sleeps in WAIT.
  await new Promise((r) => setTimeout(r, 50));
  await bothSleepThenAnswer(parent, child, channel);
});

vm('a parent that ends leaves its children running, like a process', async () => {
  const parent = await ctx.host.spawn(guest('idle'), { args: ['32'] });
  await waitForLine(parent, 'idle: ready');
  const { child, channel } = await parent.fork();
  parent.kill();
  assert.equal(await parent.exited, { kind: 'killed', signal: 'SIGTERM' });
  assert.ok(child.running);
  // Its monitor stays as the child's parent process, but without the VM and its RAM.
  assert.ok(smapsKb(parent.pid, 'Rss') < 8 * 1024, `lingering parent Rss ${smapsKb(parent.pid, 'Rss')} kB`);
  await channel.send('after the parent');
  assert.is(String(await channel.recv()), 'after the parent');
  channel.close();
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  // The parent's monitor stayed (without VM or RAM) only as long as its child.
  assert.ok(await eventually(() => !monitorsUnder().includes(parent.pid) && !monitorsUnder().includes(child.pid)));
});

vm('a child that dies ends its channel: the host reads end-of-stream, not a hang', async () => {
  const parent = await ctx.host.spawn(guest('idle'));
  await waitForLine(parent, 'idle: ready');
  const { child, channel } = await parent.fork();
  child.kill('SIGKILL');
  await child.exited;
  assert.is(await channel.recv(), null);
  try {
    await channel.send('anyone?');
    assert.unreachable('send to a dead child');
  } catch (e) {
    assert.is((e as PvmError).code, 'EPIPE');
  }
  channel.close();
  parent.kill();
  await parent.exited;
});

vm('64 live children, each with its own channel, all answer and exit', async () => {
  const parent = await ctx.host.spawn(guest('fork_many'), { args: ['64'], memory: '16MiB', console: 'pipe' });
  const forks = collectForks(parent);
  const { text, status } = await outputOf(parent);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(text.includes('parent: 64 children answered'), text);
  assert.ok(text.includes('parent: all closed'), text);
  assert.ok(await eventually(() => forks.length === 64));
  const ids = new Set(forks.map((f) => f.child.id));
  assert.is(ids.size, 64);
  const statuses = await Promise.all(forks.map((f) => f.child.exited));
  forks.forEach((f, i) => assert.equal(statuses[i], { kind: 'exit', code: f.child.id % 200 }));
});

vmManyDomains('the child limit: a fork past the last channel slot fails with EAGAIN and the parent goes on', async () => {
  const parent = await ctx.host.spawn(guest('fork_many'), { args: ['129'], memory: '16MiB' });
  const forks = collectForks(parent);
  const { text, status } = await outputOf(parent);
  assert.ok(text.includes('fork 128 failed: EAGAIN'), text);
  assert.equal(status, { kind: 'exit', code: 2 });
  assert.ok(await eventually(() => forks.length === 128));
  await Promise.all(forks.map((f) => f.child.exited));
});

vm('grandchildren: a fork of a fork, and the host sees the whole family', async () => {
  const root = await ctx.host.spawn(guest('fork_grand'));
  const forks = collectForks(root);
  const grand: ForkInfo[] = [];
  root.once('fork', (f) => f.child.on('fork', (g) => grand.push(g)));
  const { text, status } = await outputOf(root);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(await eventually(() => grand.length === 1));
  const child = forks[0]!.child;
  const grandchild = grand[0]!.child;
  assert.is(grandchild.parent, child);
  assert.is(child.parent, root);
  assert.ok(text.includes(`parent got: via child: grandchild ${grandchild.id}`), text);
  assert.equal(await grandchild.exited, { kind: 'exit', code: 0 });
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
});

vm('a fork while the channel has traffic in flight loses and reorders nothing', async () => {
  const parent = await ctx.host.spawn(guest('fork_inflight'), { memory: '32MiB' });
  const forks = collectForks(parent);
  const { text, status } = await outputOf(parent);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(text.includes('parent: 1000 in order'), text);
  await Promise.all(forks.map((f) => f.child.exited));
});

vm('fork of an ended pVM is ESRCH; host.close() while forks run leaves nothing behind', async () => {
  const fdsBefore = openFds();
  const host = await Host.open();
  const done = await host.spawn(guest('exitcode'), { args: ['0'], console: 'ignore' });
  await done.exited;
  try {
    await done.fork();
    assert.unreachable('fork of an ended pVM');
  } catch (e) {
    assert.is((e as PvmError).code, 'ESRCH');
  }
  const parent = await host.spawn(guest('idle'), { console: 'ignore' });
  const forked = await parent.fork();
  const grand = await forked.child.fork();
  const pending = parent.fork().catch((e: PvmError) => e);
  await host.close();
  const last = await pending;
  assert.ok(last instanceof PvmError || (last as { child: Pvm }).child, String(last));
  assert.is(forked.child.running, false);
  assert.is(grand.child.running, false);
  assert.ok(await eventually(() => monitorsUnder().length === 0), String(monitorsUnder()));
  // No fd that was not there before (earlier tests' monitors may still be closing theirs).
  const leaked = () => openFds().filter((fd) => !fdsBefore.includes(fd));
  assert.ok(await eventually(() => leaked().length === 0), String(leaked()));
});

vm('fork({ console }): the child has a console mode of its own; bad options are EINVAL', async () => {
  const parent = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
  await consoleOf(parent).until('idle: ready');
  const quiet = await parent.fork({ console: 'ignore' });
  const piped = await parent.fork();
  // An ignored console is a stream that has ended already, while the child runs on; a
  // piped one ends only with its pVM.
  const chunks: Buffer[] = [];
  for await (const chunk of quiet.child.console) chunks.push(chunk as Buffer);
  assert.is(chunks.length, 0);
  assert.ok(quiet.child.running);
  let pipedEnded = false;
  piped.child.console.on('end', () => (pipedEnded = true)).resume();
  await new Promise((r) => setTimeout(r, 50));
  assert.not.ok(pipedEnded, 'a piped console ended while its pVM runs');
  for (const { channel, child } of [quiet, piped]) {
    await channel.send('hello');
    assert.is(String(await channel.recv()), 'hello');
    channel.close();
    assert.equal(await child.exited, { kind: 'exit', code: 0 });
  }
  assert.ok(pipedEnded);
  await rejects(parent.fork({ console: 'loud' as never }), 'EINVAL');
  parent.kill();
  await parent.exited;
});

// What every backend does, xen's copying fork included: forks without channels.
for (const [mode, what] of [
  ['isolation', 'isolation both ways, without a channel: neither side sees the other one write'],
  ['grand', 'a grandchild without channels: exit codes travel up through waitpid'],
  ['kill', 'a guest kills its child: waitpid says killed by SIGKILL'],
] as const) {
  vm(`fork without a channel: ${what}`, async () => {
    const parent = await ctx.host.spawn(guest('fork_plain'), { args: [mode], memory: '16MiB' });
    const forks = collectForks(parent);
    const { text, status } = await outputOf(parent);
    assert.ok(text.includes(`${mode} ok`), text);
    assert.equal(status, { kind: 'exit', code: 0 }, text);
    assert.ok(forks.length >= 1, "the parent's fork event came before its exit");
    const f = forks[0]!;
    assert.is(f.channelSlot, -1);
    assert.ok(f.parentPausedUs > 0 && f.childReadyUs > 0, `${f.parentPausedUs} ${f.childReadyUs}`);
    // xen shares the domain's pages (test:xen --memshr: the hypervisor allows it) or copies
    // them; kvm and process fork(2) the monitor (copy-on-write).
    if (parent.backend === 'xen') assert.is(f.path, process.env.PVM_XEN_MEMSHR === '1' ? 'memshr' : 'copy');
    else assert.ok(f.path !== 'copy' && f.path !== 'memshr', f.path);
    await f.child.exited;
  });
}

suite.run();
