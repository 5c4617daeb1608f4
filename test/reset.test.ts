// Reset: Pvm.reset() and the guest's pvm_reset() rewind a forked pVM to its fork point in
// place (test/guests/reset.c: an arena the host writes at random and hashes). On kvm
// (KVM's dirty log) and process (userfaultfd write-protect: Linux 6.10+, else ENOSYS).
import * as assert from 'uvu/assert';
import type { Channel, Pvm } from '../lib/index.js';
import { guest, rejects, vmSuite, waitForLine, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('reset');
const ctx = withHost(suite);

async function ask(channel: Channel, request: string): Promise<string> {
  await channel.send(request);
  return String(await channel.recv());
}

async function spawnReady(): Promise<Pvm> {
  const pvm = await ctx.host.spawn(guest('reset'), { memory: '32MiB' });
  await waitForLine(pvm, 'reset: ready');
  return pvm;
}

vm('50 resets with random writes between: RAM hashes as at the fork point every time', async () => {
  const parent = await spawnReady();
  const { child, channel } = await parent.fork();
  const atFork = await ask(channel, 'hash'); // the first request: counter 1, as after each reset
  let seed = 12345;
  for (let i = 0; i < 50; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const pages = 1 + (seed % 200);
    assert.is(await ask(channel, `write ${pages} ${seed}`), `wrote ${pages}`);
    const dirty = await ask(channel, 'hash');
    assert.is.not(dirty, atFork);
    const info = await child.reset();
    assert.ok(info.pages >= 1 && info.resetUs > 0, JSON.stringify(info));
    assert.is(await ask(channel, 'hash'), atFork, `after reset ${i + 1}`);
  }
  assert.is(await ask(channel, 'count'), 'count 2'); // the counter was rewound too
  channel.close();
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  parent.kill();
  await parent.exited;
});

vm('with warm spares (the dirty log shared with them), and a child forked through one', async () => {
  const parent = await ctx.host.spawn(guest('reset'), { memory: '32MiB', forkSpares: true });
  await waitForLine(parent, 'reset: ready');
  await new Promise((r) => setTimeout(r, 50)); // its spare is made meanwhile
  const { child, channel } = await parent.fork();
  const atFork = await ask(channel, 'hash');
  for (let i = 0; i < 10; i++) {
    await ask(channel, `write ${20 + i} ${i + 3}`);
    await new Promise((r) => setTimeout(r, 5)); // the child makes its own spare (it takes the log)
    await ask(channel, `write 5 ${i + 99}`);
    await child.reset();
    assert.is(await ask(channel, 'hash'), atFork, `after reset ${i + 1}`);
  }
  channel.close();
  await child.exited;
  parent.kill();
  await parent.exited;
});

vm('isolation holds across resets: neither side sees the other\'s writes', async () => {
  const parent = await spawnReady();
  const toParent = await ctx.host.channel(parent);
  const parentAtFork = await ask(toParent, 'arena');
  const { child, channel } = await parent.fork();
  const childAtFork = await ask(channel, 'arena');
  assert.is(childAtFork.slice(6), parentAtFork.slice(6));
  await ask(toParent, 'write 100 5');
  const parentWrote = await ask(toParent, 'arena');
  assert.is.not(parentWrote, parentAtFork);
  assert.is(await ask(channel, 'arena'), childAtFork); // the parent's writes are not the child's
  await ask(channel, 'write 100 9');
  assert.is.not(await ask(channel, 'arena'), childAtFork);
  assert.is(await ask(toParent, 'arena'), parentWrote); // nor the child's the parent's
  await child.reset();
  assert.is(await ask(channel, 'arena'), childAtFork); // back to the fork point, not to the parent's now
  assert.is(await ask(toParent, 'arena'), parentWrote);
  channel.close();
  toParent.close();
  await child.exited;
  await parent.exited;
});

vm('fresh entropy and a new generation after each reset', async () => {
  const parent = await spawnReady();
  const { child, channel } = await parent.fork();
  const parse = (s: string) => {
    const m = /^rand (-?\d+) gen (\d+) ent ([0-9a-f]+)$/.exec(s);
    assert.ok(m, s);
    return { rand: Number(m![1]), gen: Number(m![2]), ent: m![3] };
  };
  const draws = [parse(await ask(channel, 'rand'))];
  for (let i = 0; i < 3; i++) {
    await child.reset();
    draws.push(parse(await ask(channel, 'rand')));
  }
  for (let i = 1; i < draws.length; i++) {
    assert.ok(draws[i]!.gen > draws[i - 1]!.gen, JSON.stringify(draws));
    assert.is.not(draws[i]!.ent, draws[i - 1]!.ent);
  }
  assert.is(new Set(draws.map((d) => d.rand)).size, draws.length, JSON.stringify(draws));
  channel.close();
  await child.exited;
  parent.kill();
  await parent.exited;
});

vm('the guest resets itself: pvm_reset() goes back to the fork point; unread messages are dropped', async () => {
  const parent = await spawnReady();
  const { child, channel } = await parent.fork();
  const atFork = await ask(channel, 'hash');
  await ask(channel, 'write 30 7');
  const resets: number[] = [];
  child.on('reset', (info) => resets.push(info.pages));
  const done = new Promise((resolve) => child.once('reset', resolve));
  // Both in its ring before the guest reads the first (its monitor stopped meanwhile):
  // 'count' is unread when the guest resets, and dropped with the reset.
  process.kill(child.pid, 'SIGSTOP');
  try {
    await channel.send('reset');
    await channel.send('count');
  } finally {
    process.kill(child.pid, 'SIGCONT');
  }
  await done;
  assert.is(resets.length, 1);
  assert.ok(resets[0]! >= 30, String(resets[0]));
  assert.is(await ask(channel, 'hash'), atFork); // no stale answer in between
  assert.is(await ask(channel, 'count'), 'count 2');
  channel.close();
  await child.exited;
  parent.kill();
  await parent.exited;
});

vm('pVMs the guest forked after the fork point are killed by a reset', async () => {
  const parent = await spawnReady();
  const { child, channel } = await parent.fork();
  const atFork = await ask(channel, 'hash');
  await ask(channel, 'write 40 3');
  const forked = new Promise<Pvm>((resolve) => child.once('fork', (f) => resolve(f.child)));
  assert.match(await ask(channel, 'fork'), /^forked \d+$/);
  const grandchild = await forked;
  // A fork of a fork child has a fork point of its own (its own dirty log, keeper)...
  const own = await grandchild.reset();
  assert.ok(own.pages >= 1, JSON.stringify(own));
  assert.ok(grandchild.running);
  // ...and its parent's log went on through that fork.
  await child.reset();
  assert.equal(await grandchild.exited, { kind: 'killed', signal: 'SIGKILL' });
  assert.is(await ask(channel, 'hash'), atFork);
  channel.close();
  await child.exited;
  parent.kill();
  await parent.exited;
});

vm('typed errors: ENOTFORK for a spawned pVM, ESRCH once ended; the pVM runs on', async () => {
  const parent = await spawnReady();
  await rejects(parent.reset(), 'ENOTFORK');
  assert.ok(parent.running);
  const toParent = await ctx.host.channel(parent);
  assert.match(await ask(toParent, 'reset'), /^reset failed /); // the guest's pvm_reset(): -PVM_EINVAL
  toParent.close();
  await parent.exited;
});

vm('a fork child that exec\'ed has no fork point any more: ENOTFORK', async () => {
  const parent = await spawnReady();
  const { child, channel } = await parent.fork();
  await child.exec(guest('idle'));
  await rejects(child.reset(), 'ENOTFORK');
  assert.ok(child.running);
  channel.close();
  child.kill();
  await child.exited;
  parent.kill();
  await parent.exited;
});

vm('ESRCH once ended', async () => {
  const parent = await spawnReady();
  const { child, channel } = await parent.fork();
  channel.close();
  await child.exited;
  await rejects(child.reset(), 'ESRCH');
  parent.kill();
  await parent.exited;
  await rejects(parent.reset(), 'ESRCH');
});

suite.run();
