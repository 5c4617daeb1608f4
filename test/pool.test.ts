import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { Host, PvmError } from '../lib/index.js';
import { consoleOf, eventually, guest, monitorsUnder, openFds, outputOf, vmSuite } from './_helpers.js';

const { vm, suite } = vmSuite('spawn pool');

vm('pooled monitors boot pVMs like fresh ones, of any size, and the pool refills', async () => {
  const fdsBefore = openFds();
  const host = await Host.open({ spawnPool: 2, spawnPoolMemory: '16MiB' });
  try {
    const stats = host.stats();
    assert.is(stats.pooledMonitors, 2);
    assert.ok(stats.pooledKiB > 0, `pooled memory ${stats.pooledKiB} KiB`);
    // The size the pool prepared, another size, and a bigger image: all from the pool.
    for (const [name, memory, args] of [
      ['hello', '16MiB', ['a']],
      ['hello', '32MiB', ['b']],
      ['big', '128MiB', []],
      ['heap', '64MiB', []],
    ] as const) {
      const pvm = await host.spawn(guest(name), { memory, args: [...args] });
      const { text, status } = await outputOf(pvm);
      assert.equal(status, { kind: 'exit', code: 0 }, `${name}: ${text}`);
      if (name === 'hello') assert.ok(text.includes(`hello from pVM ${pvm.id}`) && text.includes(`arg[1]=${args[0]}`), text);
    }
    assert.ok(await eventually(() => host.stats().pooledMonitors === 2), 'the pool refills');
    // Bad input through a pooled monitor: still a typed error, and the monitor is not reused.
    try {
      await host.spawn(guest('hello'), { memory: 4096 });
      assert.unreachable('tiny RAM accepted');
    } catch (e) {
      assert.instance(e, PvmError);
    }
  } finally {
    await host.close();
  }
  assert.is(host.stats().pooledMonitors, 0);
  assert.ok(await eventually(() => monitorsUnder().length === 0), String(monitorsUnder()));
  const leaked = () => openFds().filter((fd) => !fdsBefore.includes(fd));
  assert.ok(await eventually(() => leaked().length === 0), String(leaked()));
});

vm('spawn({ pool: false }) starts a fresh monitor even with a pool', async () => {
  const host = await Host.open({ spawnPool: 1 });
  try {
    const before = host.stats().pooledMonitors;
    const pvm = await host.spawn(guest('hello'), { pool: false, console: 'ignore' });
    assert.is(host.stats().pooledMonitors, before);
    assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  } finally {
    await host.close();
  }
});

vm('pVMs of one image share its read-only pages (the image file is mapped, not copied)', async () => {
  const host = await Host.open({ spawnPool: 1 });
  try {
    const a = await host.spawn(guest('idle'));
    const b = await host.spawn(guest('idle'));
    await Promise.all([consoleOf(a).until('idle: ready'), consoleOf(b).until('idle: ready')]);
    // The image's read-only pages are the page cache's, mapped into each monitor: the
    // kernel counts a page both have mapped as shared (clean, or dirty when the build has
    // just written the file and it is not yet written back).
    const imageMappings = (pid: number) => {
      const blocks = readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
      return blocks.filter((block) => block.split('\n')[0].endsWith(guest('idle')));
    };
    const sharedKiB = (pid: number) =>
      imageMappings(pid).reduce(
        (sum, block) =>
          sum +
          Number(/Shared_Clean:\s+(\d+) kB/.exec(block)?.[1] ?? 0) +
          Number(/Shared_Dirty:\s+(\d+) kB/.exec(block)?.[1] ?? 0),
        0,
      );
    for (const pvm of [a, b]) assert.ok(imageMappings(pvm.pid).length > 0, `the image is not mapped in monitor ${pvm.pid}`);
    const shared = () => [a, b].every((p) => sharedKiB(p.pid) > 0);
    assert.ok(await eventually(shared), `shared pages: ${imageMappings(a.pid).join('\n')}`);
  } finally {
    await host.close();
  }
});

suite.run();
