// How much of a xen pVM's RAM its monitor maps, in a Xen dom0 (npm run test:xen): only
// the pages the monitor touches (argument block, boot-info page, console ring, a
// hypercall's buffers), never all of RAM: a fork of the domain needs its RAM unmapped
// in dom0 (issue 18). Foreign mappings show in /proc/<monitor>/maps as /dev/xen/privcmd.
// Elsewhere every test here skips, loudly.
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { Host, builtinGuest } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import { consoleOf, eventually, test as boundedTest } from './_helpers.js';

const probe = loadAddon().probeBackend('xen');
const onXen = process.env.PVM_BACKEND === 'xen' && probe.ok;
if (!onXen) console.warn(`\n!!! not a xen run (PVM_BACKEND=${process.env.PVM_BACKEND ?? ''}; xen: ${probe.ok ? 'ok' : probe.message}): xen-memory tests are SKIPPED (npm run test:xen runs them) !!!\n`);
const test = onXen ? boundedTest : Object.assign((title: string) => boundedTest.skip(title), boundedTest);

const MiB = 1024 * 1024;
const ram = 64 * MiB;
// The monitor keeps at most 32 pages of windows across exits, plus what one exit maps
// and the ioreq page: far below this.
const bound = 1 * MiB;

/** Bytes of the process's mappings of /dev/xen/privcmd (foreign-mapped guest pages). */
function privcmdBytes(pid: number): number {
  let bytes = 0;
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    if (!line.endsWith('/dev/xen/privcmd')) continue;
    const [start, end] = line.split(' ')[0]!.split('-').map((h) => BigInt(`0x${h}`));
    bytes += Number(end! - start!);
  }
  return bytes;
}

function checkMapped(pid: number, when: string): void {
  const mapped = privcmdBytes(pid);
  console.log(`xen-memory: ${when}: ${(mapped / 1024).toFixed(0)} KiB of /dev/xen/privcmd mappings in the monitor, RAM ${ram / MiB} MiB`);
  // Some mapping is always there (the ioreq page, the console ring): proof this counts.
  assert.ok(mapped > 0, `${when}: no /dev/xen/privcmd mapping in the monitor (pid ${pid}): nothing counted`);
  assert.ok(
    mapped < bound,
    `${when}: the monitor maps ${(mapped / 1024).toFixed(0)} KiB of a ${ram / MiB} MiB guest's RAM; it must map only what it touches (< ${bound / 1024} KiB), never all of RAM`,
  );
}

test('a running 64 MiB pVM that touched 48 MiB has only a few pages mapped in its monitor', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    const pvm = await host.spawn(builtinGuest('idle'), { args: ['48'], memory: '64MiB' });
    await consoleOf(pvm).until('idle: ready');
    checkMapped(pvm.pid, 'spawned, idle');
    pvm.kill('SIGKILL');
    await pvm.exited;
  } finally {
    await host.close();
  }
});

test('after heavy console output and an exec, still only a few pages mapped', async () => {
  const host = await Host.open({ backend: 'xen' });
  try {
    const pvm = await host.spawn(builtinGuest('idle'), { memory: '64MiB' });
    const output = consoleOf(pvm);
    await output.until('idle: ready');
    // exec loads the next image through a mapping of all RAM: gone before it runs.
    await pvm.exec(builtinGuest('console'), { args: ['3000'], memory: '64MiB' });
    assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
    assert.ok(output.text().includes('line 2999 the quick brown fox'), output.text().slice(-200));

    const again = await host.spawn(builtinGuest('idle'), { memory: '64MiB' });
    const out2 = consoleOf(again);
    await out2.until('idle: ready');
    await again.exec(builtinGuest('idle'), { args: ['32'], memory: '64MiB' });
    assert.ok(await eventually(() => out2.text().split('idle: ready').length - 1 >= 2, 120_000), out2.text());
    checkMapped(again.pid, 'after exec, idle');
    again.kill('SIGKILL');
    await again.exited;
  } finally {
    await host.close();
  }
});

test.run();
