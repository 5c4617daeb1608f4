import * as assert from 'uvu/assert';
import { PvmError, type Pvm } from '../lib/index.js';
import { consoleOf, eventually, guest, monitorsUnder, outputOf, vmSuite, withHost, rejects } from './_helpers.js';

const { suite, vm } = vmSuite('family');
const ctx = withHost(suite);

// Runs family.pvm in `mode`; every child's console is collected too.
async function family(mode: string, extra: string[] = []) {
  const pvm = await ctx.host.spawn(guest('family'), { args: [mode, ...extra], memory: '16MiB' });
  const children: Pvm[] = [];
  pvm.on('fork', (f) => children.push(f.child));
  const out = await outputOf(pvm);
  return { ...out, children };
}

for (const mode of ['signal', 'handler', 'waitpid', 'shm', 'crash', 'badslot', 'cycles']) {
  vm(`guest ${mode}: ${mode === 'crash' ? 'a crashed child ends its channel and waitpid reports it' : 'works between parent and child'}`, async () => {
    const { text, status } = await family(mode);
    assert.ok(text.includes(`${mode} ok`), text);
    assert.equal(status, { kind: 'exit', code: 0 }, text);
  });
}

vm('the family rule: a pVM may signal ancestors and descendants, not siblings, uncles or strangers', async () => {
  const stranger = await ctx.host.spawn(guest('idle'), { console: 'ignore' });
  const { text, status } = await family('rule', [String(stranger.id)]);
  assert.ok(text.includes('rule ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(stranger.running, 'the stranger was not touched');
  stranger.kill();
  await stranger.exited;
});

vm('host signals: SIGUSR1 reaches the guest, SIGTERM ends it, children run on', async () => {
  const pvm = await ctx.host.spawn(guest('idle'));
  await new Promise<void>((resolve) => pvm.console.on('data', (d: Buffer) => String(d).includes('ready') && resolve()));
  const { child, channel } = await pvm.fork();
  // idle's receive has no handler: USR1 makes it fail with EINTR, which idle reports.
  assert.ok(child.kill('SIGUSR1'));
  let text = '';
  child.console.on('data', (d: Buffer) => (text += d));
  assert.equal(await child.exited, { kind: 'exit', code: 1 });
  assert.ok(await eventually(() => text.includes('EINTR')), text);
  channel.close();
  assert.ok(pvm.running);
  pvm.kill('SIGTERM');
  assert.equal(await pvm.exited, { kind: 'killed', signal: 'SIGTERM' });
  assert.ok(await eventually(() => monitorsUnder().length === 0), String(monitorsUnder()));
});

vm('host channels: the host gives a running pVM channels, one after another, slots reused', async () => {
  const hub = await ctx.host.spawn(guest('family'), { args: ['hub', '3'] });
  await consoleOf(hub).until('hub: ready');
  for (let i = 0; i < 3; i++) {
    const channel = await ctx.host.channel(hub);
    await channel.send(`hello ${i}`);
    assert.is(String(await channel.recv()), `hub ${hub.id} got 'hello ${i}' from 0 on slot 0`);
    assert.is(await channel.recv(), null); // the guest closed its end
    channel.close();
  }
  assert.equal(await hub.exited, { kind: 'exit', code: 0 });
});

vm('host-made channels between pVMs follow the family rule', async () => {
  const parent = await ctx.host.spawn(guest('family'), { args: ['pair'] });
  const child = await new Promise<Pvm>((resolve) => parent.once('fork', (f) => resolve(f.child)));
  const slots = await ctx.host.connect(parent, child);
  assert.ok(slots.slotA >= 0 && slots.slotB >= 0);
  const out = await outputOf(parent);
  assert.ok(out.text.includes('pair ok'), out.text);
  assert.equal(await child.exited, { kind: 'exit', code: 0 });

  // Siblings and strangers: refused, nothing handed out.
  const a = await ctx.host.spawn(guest('idle'), { console: 'ignore' });
  const b = await ctx.host.spawn(guest('idle'), { console: 'ignore' });
  const s1 = (await a.fork()).child;
  const s2 = (await a.fork()).child;
  await rejects(ctx.host.connect(a, b), 'EPERM');
  await rejects(ctx.host.connect(s1, s2), 'EPERM');
  await rejects(ctx.host.connect(a, a), 'EPERM');
  await ctx.host.connect(a, s1); // parent and child: fine
  for (const p of [s1, s2, a, b]) p.kill();
  await Promise.all([s1, s2, a, b].map((p) => p.exited));
  await rejects(ctx.host.channel(a), 'ESRCH');
});

vm('a pVM at the end of a host-made channel that crashes: the other end reads EPIPE, no hang', async () => {
  const hub = await ctx.host.spawn(guest('family'), { args: ['hub', '1'] });
  const hubConsole = consoleOf(hub);
  await hubConsole.until('hub: ready');
  // The copy accepts its channel from the host and waits there for a message.
  const { child, channel } = await hub.fork();
  await ctx.host.connect(hub, child);
  child.kill('SIGKILL'); // a crash: its monitor never marks its ends closed
  assert.equal(await child.exited, { kind: 'killed', signal: 'SIGKILL' });
  assert.equal(await hub.exited, { kind: 'exit', code: 1 });
  assert.ok(hubConsole.text().includes('recv: EPIPE'), hubConsole.text());
  assert.is(await channel.recv(), null);
  channel.close();
});

vm('pipe-like byte streams: odd-sized writes and reads, end of stream, both directions', async () => {
  const pvm = await ctx.host.spawn(guest('family'), { args: ['pipe'] });
  await consoleOf(pvm).until('pipe: ready');
  const stream = (await ctx.host.channel(pvm)).stream();
  const data = Buffer.alloc(1_000_003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
  let sum = 0;
  for (const b of data) sum = (sum + b) >>> 0;
  for (let off = 0; off < data.length; off += 100_001) stream.write(data.subarray(off, off + 100_001));
  stream.end();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  assert.is(Buffer.concat(chunks).toString(), `${data.length} ${sum}`);
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
});

vm('memory shared between the host and a pVM', async () => {
  const pvm = await ctx.host.spawn(guest('family'), { args: ['hostshm'] });
  await consoleOf(pvm).until('hostshm: ready');
  await rejects(ctx.host.share(pvm, 0), 'EINVAL');
  await rejects(ctx.host.share(pvm, 3 << 20), 'EINVAL');
  const { memory, slot } = await ctx.host.share(pvm, 5000);
  assert.is(memory.byteLength, 8192);
  assert.ok(slot >= 0);
  const bytes = new Uint8Array(memory);
  bytes.set(Buffer.from('ping'));
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  assert.is(Buffer.from(bytes.subarray(100, 104)).toString(), 'pong');
});

suite.run();
