// The process backend (addon/monitor/backends/process/): what is its own. The guest runs
// inside its monitor process: it must still reach the host only through hypercalls (a
// raw system call is a fault, stopped by seccomp), keep page 0 unmapped, and find none of
// the monitor's mappings among its addresses; exec, fork, kill, the family and channels
// work as on kvm. Needs no /dev/kvm: runs wherever the process backend can (the rest
// of the suite runs on both backends).
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { Pvm } from '../lib/index.js';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { consoleOf, guest, outputOf, vmSuite, withHost } from './_helpers.js';

const { suite, vm: t } = vmSuite('process backend', { backends: ['process'] });
const ctx = withHost(suite);

// Every guest address is below the end of the channel window.
const guestLimit = BigInt(abi.channel.WINDOW_GPA) + BigInt(abi.channel.SLOTS) * BigInt(abi.channel.SLOT_SIZE);

async function faultOf(name: string, args: string[]) {
  const pvm = await ctx.host.spawn(guest(name), { args, memory: '16MiB' });
  assert.is(pvm.backend, 'process');
  const r = await outputOf(pvm);
  const show = JSON.stringify(r.status, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
  if (r.status.kind !== 'fault') throw new Error(`${name} ${args.join(' ')}: not a fault: ${show}\n${r.text}`);
  return { fault: r.status.fault, text: r.text };
}

t('a raw system call from the guest is a fault naming it, and never reaches the host', async () => {
  for (const [how, nr] of [['getpid', 39], ['open', 257], ['write', 1]] as const) {
    const { fault, text } = await faultOf('escape', [how]);
    assert.ok(text.includes(`escape: about to ${how}`), text);
    assert.not.ok(text.includes('returned'), text);
    assert.is(fault.kind, 'exception');
    assert.is(fault.vector, 6, fault.message);
    assert.match(fault.message, new RegExp(`^raw system call ${nr} at rip 0x[0-9a-f]+: a pVM reaches the host only through hypercalls`));
    assert.ok(fault.rip >= 0x200000n && fault.rip < guestLimit, `rip 0x${fault.rip.toString(16)}`);
  }
});

t('int $0x80 (the 32-bit gate) is stopped too', async () => {
  const { fault, text } = await faultOf('escape', ['int80']);
  assert.not.ok(text.includes('returned'), text);
  assert.is(fault.kind, 'exception');
});

t('a guest that jumps into the monitor ends in a fault; the host goes on', async () => {
  const { fault } = await faultOf('escape', ['monitor']);
  assert.ok(fault.message.length > 0);
  const { status } = await outputOf(await ctx.host.spawn(guest('hello'), { memory: '16MiB' }));
  assert.equal(status, { kind: 'exit', code: 0 });
});

t('page 0 is not mapped: a null pointer is #PF at address 0, as on kvm', async () => {
  const { fault } = await faultOf('fault', ['null']);
  assert.is(fault.vector, 14);
  assert.is(fault.address, 0n);
  assert.match(fault.message, /null pointer/);
});

t('stack overflow: #PF in the guard page (caught on the signal stack)', async () => {
  const { fault } = await faultOf('fault', ['stack']);
  assert.is(fault.vector, 14);
  assert.match(fault.message, /stack overflow/);
});

/** The monitor's mappings: [start, end, name]. */
function mappings(pid: number): Array<[bigint, bigint, string]> {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [range, , , , , ...rest] = line.split(/\s+/);
      const [lo, hi] = range!.split('-').map((x) => BigInt(`0x${x}`));
      return [lo!, hi!, rest.join(' ')];
    });
}

t("the monitor's own mappings are outside the guest's addresses, nothing below 64 KiB", async () => {
  const pvm = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
  await consoleOf(pvm).until('idle: ready');
  const maps = mappings(pvm.pid);
  for (const [lo, hi, name] of maps) {
    if (lo >= guestLimit) continue;
    // Below the limit: only guest RAM and the reservation (anonymous), the image's pages
    // (shared between pVMs of one image), channel memfds.
    assert.ok(lo >= 0x10000n, `mapping below 64 KiB: 0x${lo.toString(16)} ${name}`);
    assert.ok(hi <= guestLimit, `mapping across the guest limit: 0x${lo.toString(16)}-0x${hi.toString(16)} ${name}`);
    const guestOwn = name === '' || name.startsWith('/memfd:') || name.endsWith('.pvm');
    assert.ok(guestOwn, `a monitor mapping among guest addresses: 0x${lo.toString(16)} ${name}`);
  }
  const monitor = maps.find(([, , name]) => name.endsWith('/pvm-monitor'));
  assert.ok(monitor && monitor[0] >= guestLimit, 'the monitor binary (PIE) lies above the guest limit');
  pvm.kill('SIGKILL');
  await pvm.exited;
});

t('exec in place: a new image at the same addresses, and a new RAM size', async () => {
  const pvm = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
  const out = consoleOf(pvm);
  await out.until('idle: ready');
  await pvm.exec(guest('hostile'), { args: ['ram'], memory: '48MiB' });
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  assert.ok(out.text().includes('ram: 48 MiB'), out.text());
});

t('fork isolation: copy-on-write RAM, a shared channel (fork(2) of the monitor)', async () => {
  // The parent's console (the child's is its own pVM's); it waits for the child to end.
  const { text, status } = await outputOf(await ctx.host.spawn(guest('fork_isolation'), { memory: '16MiB' }));
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(text.includes('parent: isolation ok'), text);
});

t('a spinning guest is ended by kill (TERM and KILL)', async () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const pvm = await ctx.host.spawn(guest('hostile'), { args: ['spin'], memory: '16MiB' });
    await consoleOf(pvm).until('spin: ready');
    pvm.kill(signal);
    const status = await pvm.exited;
    assert.is(status.kind, 'killed', JSON.stringify(status));
  }
});

t('the family and channels between two process pVMs, and the host', async () => {
  // `rule` signals a stranger too: another process pVM of this host.
  const stranger = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
  for (const args of [['signal'], ['waitpid'], ['rule', String(stranger.id)], ['shm'], ['crash']]) {
    const { text, status } = await outputOf(await ctx.host.spawn(guest('family'), { args, memory: '16MiB' }));
    assert.equal(status, { kind: 'exit', code: 0 }, `${args[0]}: ${text}`);
    assert.ok(text.includes(`${args[0]} ok`), text);
  }
  stranger.kill('SIGKILL');
  await stranger.exited;
  // A host fork of a running pVM: the child echoes on its channel to the host.
  const parent: Pvm = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
  await consoleOf(parent).until('idle: ready');
  const { child, channel } = await parent.fork();
  assert.is(child.backend, 'process');
  await channel.send('hello');
  assert.is(String(await channel.recv()), 'hello');
  channel.close();
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  parent.kill('SIGKILL');
  await parent.exited;
});

suite.run();
