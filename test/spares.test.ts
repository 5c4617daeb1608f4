import * as assert from 'uvu/assert';
import type { ForkInfo, Pvm } from '../lib/index.js';
import { consoleOf, eventually, guest, monitorsUnder, outputOf, vmSuite, withHost } from './_helpers.js';

// Warm spares are built on KVM's dirty log: on kvm only.
const { suite, vm } = vmSuite('fork spares', { backends: ['kvm'] });
const ctx = withHost(suite);

function forksOf(pvm: Pvm): ForkInfo[] {
  const forks: ForkInfo[] = [];
  pvm.on('fork', (f) => forks.push(f));
  return forks;
}

vm("a fork through a spare gives the child the parent's memory byte for byte", async () => {
  // 24 MiB filled, then 4 rounds of 2 MiB rewritten at random pages before each fork;
  // the child hashes the memory and the parent compares with its own hash.
  const pvm = await ctx.host.spawn(guest('spare_check'), { memory: '64MiB', args: ['24', '2', '4'], forkSpares: true });
  const forks = forksOf(pvm);
  const { text, status } = await outputOf(pvm);
  assert.ok(text.includes('spare_check ok 4'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  // The first spare was made before the 24 MiB were filled: that fork is too dirty.
  assert.is(forks.length, 4);
  assert.is(forks[0]!.path, 'too-dirty');
  const through = forks.filter((f) => f.viaSpare);
  assert.ok(through.length >= 2, JSON.stringify(forks.map((f) => f.path)));
  for (const f of through) assert.ok(f.copiedPages >= 512, `copied ${f.copiedPages} pages`);
});

vm('too much written since the spare: a plain fork, still correct, and it says why', async () => {
  const pvm = await ctx.host.spawn(guest('spare_check'), { memory: '64MiB', args: ['40', '24', '2'], forkSpares: true });
  const forks = forksOf(pvm);
  const { text, status } = await outputOf(pvm);
  assert.ok(text.includes('spare_check ok 2'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.equal(
    forks.map((f) => f.path),
    ['too-dirty', 'too-dirty'],
  );
});

vm('without spares the path says so; with them the host fork goes through one and the channel works', async () => {
  const plain = await ctx.host.spawn(guest('idle'));
  await consoleOf(plain).until('idle: ready');
  const p = await plain.fork();
  assert.is(p.path, 'spares-off');
  assert.is(plain.sparePid, 0);
  p.channel.close();
  await p.child.exited;
  plain.kill();
  await plain.exited;

  const pvm = await ctx.host.spawn(guest('idle'), { args: ['8'], forkSpares: true });
  await consoleOf(pvm).until('idle: ready');
  assert.ok(await eventually(() => pvm.sparePid > 0), 'a spare is made');
  assert.ok(monitorsUnder().includes(pvm.sparePid));
  assert.is(ctx.host.stats().spares, 1);
  // The first spare predates the 8 MiB the guest touched.
  const first = await pvm.fork();
  first.channel.close();
  await first.child.exited;
  await new Promise((r) => setTimeout(r, 20));
  const f = await pvm.fork();
  assert.is(f.path, 'spare');
  await f.channel.send('through a spare');
  assert.is(String(await f.channel.recv()), 'through a spare');
  f.channel.close();
  assert.equal(await f.child.exited, { kind: 'exit', code: 0 });
  // The spare dies with its pVM.
  assert.ok(await eventually(() => pvm.sparePid > 0));
  const spare = pvm.sparePid;
  pvm.kill();
  await pvm.exited;
  assert.ok(await eventually(() => !monitorsUnder().includes(spare)), 'the spare is gone');
  assert.is(ctx.host.stats().spares, 0);
});

suite.run();
