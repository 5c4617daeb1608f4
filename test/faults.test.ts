import * as assert from 'uvu/assert';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { guest, outputOf, run, vmSuite, withHost, notOnXen } from './_helpers.js';

const { suite, vm } = vmSuite('faults');
const ctx = withHost(suite);

async function fault(kind: string) {
  const r = await run(ctx.host, 'fault', [kind], '16MiB');
  assert.is(r.status.kind, 'fault', `${kind}: ${JSON.stringify(r.status, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  assert.ok(r.text.includes(`about to fault: ${kind}`), `output before the fault was lost: ${r.text}`);
  if (r.status.kind !== 'fault') throw new Error('unreachable');
  const f = r.status.fault;
  assert.ok(f.message.length > 0);
  return f;
}

vm('null pointer read: #PF with the address and rip', async () => {
  const f = await fault('null');
  assert.is(f.kind, 'exception');
  assert.is(f.vector, 14);
  assert.is(f.mnemonic, '#PF');
  assert.is(f.address, 0n);
  assert.ok(f.rip >= 0x200000n, `rip ${f.rip.toString(16)}`);
  assert.match(f.message, /page fault/i);
});

notOnXen(vm, 'Xen 4.17 on AMD SVM keeps no guest CR2 in its saved state')('write above guest RAM: #PF at that address', async () => {
  const f = await fault('wild');
  assert.is(f.vector, 14);
  assert.ok(f.address >= 16n * 1024n * 1024n, `address 0x${f.address.toString(16)}`);
  assert.ok((f.errorCode & 2n) === 2n, 'error code says write');
});

vm('ud2: #UD', async () => {
  const f = await fault('ud');
  assert.is(f.vector, 6);
  assert.is(f.mnemonic, '#UD');
  assert.ok(f.rip >= 0x200000n);
});

vm('divide by zero: #DE', async () => {
  const f = await fault('div0');
  assert.is(f.vector, 0);
  assert.is(f.mnemonic, '#DE');
});

vm('non-canonical access: #GP', async () => {
  const f = await fault('gp');
  assert.is(f.vector, 13);
});

vm('stack overflow: #PF below the stack, not a hang', async () => {
  const f = await fault('stack');
  assert.is(f.kind, 'exception');
  assert.is(f.vector, 14);
});

vm('unknown hypercall ends the pVM with bad-hypercall', async () => {
  const f = await fault('hypercall');
  assert.is(f.kind, 'bad-hypercall');
  assert.is(f.address, 9999n);
  assert.match(f.message, /9999/);
});

// The port doorbell (an `out` to the hypercall port): kvm's transport; on process the #GP
// it raises is decoded as the same port write (an image that does not use hypercall_entry).
vm('a doorbell value that names no argument block ends the pVM with bad-hypercall', async () => {
  const f = await fault('badblock');
  assert.is(f.kind, 'bad-hypercall');
  assert.is(f.address, BigInt(abi.hypercall.BLOCK_GPA + 8));
  assert.match(f.message, new RegExp(`bad hypercall block 0x${(abi.hypercall.BLOCK_GPA + 8).toString(16)}`));
});

vm('a 1-byte write to the hypercall port is bad port I/O, not a hypercall', async () => {
  const f = await fault('hcbyte');
  assert.is(f.kind, 'bad-io');
  assert.is(f.address, BigInt(abi.hypercall.port));
});

// The guest's own IDT exists only in a VM; on process `lidt` is a #GP (an exception).
vm('triple fault is reported', async () => {
  const f = await fault('triple');
  assert.ok(f.kind === 'triple-fault' || f.kind === 'exception', f.kind);
  assert.ok(f.message.length > 0);
});

vm('a faulting pVM does not disturb a sibling', async () => {
  const sibling = await ctx.host.spawn(guest('console'), { args: ['3000'], memory: '16MiB' });
  const crashers = await Promise.all(
    ['null', 'ud', 'div0', 'hypercall'].map((k) => ctx.host.spawn(guest('fault'), { args: [k], memory: '16MiB', console: 'ignore' })),
  );
  for (const c of crashers) assert.is((await c.exited).kind, 'fault');
  const { text, status } = await outputOf(sibling);
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.is(text.split('\n').filter((l) => l.startsWith('line ')).length, 3000);
});

suite.run();
