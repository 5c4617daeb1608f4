import * as assert from 'uvu/assert';
import { Host, PvmError, type ForkInfo } from '../lib/index.js';
import { eventually, guest, monitorsUnder, outputOf, vmSuite } from './_helpers.js';

const { suite, vm } = vmSuite('limits');

vm('a host-wide limit on pVMs stops forks (and spawns) beyond it, the rest goes on', async () => {
  const host = await Host.open({ maxPvms: 12 });
  try {
    const parent = await host.spawn(guest('fork_many'), { args: ['40'], memory: '16MiB' });
    const forks: ForkInfo[] = [];
    parent.on('fork', (f) => forks.push(f));
    const { text, status } = await outputOf(parent);
    // The parent and 11 children make 12: the 12th fork is refused.
    assert.ok(text.includes('fork 11 failed: EAGAIN'), text);
    assert.equal(status, { kind: 'exit', code: 2 });
    await Promise.all(forks.map((f) => f.child.exited));
    // Once they are gone, there is room again.
    assert.ok(await eventually(() => monitorsUnder().length === 0));
    const again = await host.spawn(guest('exitcode'), { args: ['4'], console: 'ignore' });
    assert.equal(await again.exited, { kind: 'exit', code: 4 });
  } finally {
    await host.close();
  }
});

vm('spawn beyond maxPvms is EAGAIN', async () => {
  const host = await Host.open({ maxPvms: 2 });
  try {
    const a = await host.spawn(guest('idle'), { console: 'ignore' });
    const b = await host.spawn(guest('idle'), { console: 'ignore' });
    await new Promise((r) => setTimeout(r, 50));
    try {
      await host.spawn(guest('idle'), { console: 'ignore' });
      assert.unreachable('a third pVM');
    } catch (e) {
      assert.instance(e, PvmError);
      assert.is((e as PvmError).code, 'EAGAIN');
    }
    a.kill();
    b.kill();
    await Promise.all([a.exited, b.exited]);
  } finally {
    await host.close();
  }
});

suite.run();
