import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PvmError, type PvmErrorCode } from '../lib/index.js';
import { guest, monitorsUnder, openFds, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('bad input');
const ctx = withHost(suite);
let dir = ''; // one for each backend's half
suite.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvm-bad-'));
});
suite.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

function hello(): Buffer {
  return readFileSync(guest('hello'));
}

async function rejects(image: string, code: PvmErrorCode, options: object = {}, pattern?: RegExp) {
  const fdsBefore = openFds();
  try {
    const pvm = await ctx.host.spawn(image, options);
    await pvm.exited;
    assert.unreachable(`spawn(${image}) should have failed with ${code}`);
  } catch (err) {
    if (!(err instanceof PvmError)) throw err;
    assert.is(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
  }
  // Nothing left running, nothing leaked.
  assert.is(ctx.host.list().length, 0);
  assert.equal(monitorsUnder(), []);
  assert.equal(openFds(), fdsBefore);
}

vm('missing file: ENOENT', async () => {
  await rejects(join(dir, 'nope.pvm'), 'ENOENT');
});

vm('a directory: EBADIMAGE', async () => {
  await rejects(dir, 'EBADIMAGE');
});

vm('empty file: EBADIMAGE', async () => {
  await rejects(file('empty.pvm', new Uint8Array(0)), 'EBADIMAGE');
});

vm('random bytes: EBADIMAGE (not ELF)', async () => {
  const junk = new Uint8Array(4096);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 2654435761) >>> 24;
  await rejects(file('junk.pvm', junk), 'EBADIMAGE', {}, /ELF/);
});

vm('truncated image: EBADIMAGE', async () => {
  const h = hello();
  await rejects(file('trunc-header.pvm', h.subarray(0, 40)), 'EBADIMAGE');
  // Cut inside the loadable contents (debug sections after them would not matter).
  const phoff = Number(h.readBigUInt64LE(32));
  const phentsize = h.readUInt16LE(54);
  let loadEnd = 0;
  for (let i = 0; i < h.readUInt16LE(56); i++) {
    const ph = phoff + i * phentsize;
    if (h.readUInt32LE(ph) !== 1) continue; // PT_LOAD
    loadEnd = Math.max(loadEnd, Number(h.readBigUInt64LE(ph + 8) + h.readBigUInt64LE(ph + 32)));
  }
  assert.ok(loadEnd > 64);
  await rejects(file('trunc-body.pvm', h.subarray(0, loadEnd - 1)), 'EBADIMAGE', {}, /trunc|past the end|beyond/i);
});

vm('wrong architecture (aarch64 e_machine): EBADIMAGE', async () => {
  const h = Buffer.from(hello());
  h.writeUInt16LE(183, 18); // EM_AARCH64
  await rejects(file('arm.pvm', h), 'EBADIMAGE', {}, /machine|architecture/i);
});

vm('32-bit ELF class: EBADIMAGE', async () => {
  const h = Buffer.from(hello());
  h[4] = 1; // ELFCLASS32
  await rejects(file('elf32.pvm', h), 'EBADIMAGE', {}, /class|64/i);
});

vm('a shared object instead of an executable: EBADIMAGE', async () => {
  const h = Buffer.from(hello());
  h.writeUInt16LE(3, 16); // ET_DYN
  await rejects(file('dyn.pvm', h), 'EBADIMAGE');
});

vm('program headers pointing past the file: EBADIMAGE', async () => {
  const h = Buffer.from(hello());
  h.writeBigUInt64LE(BigInt(h.length + 4096), 32); // e_phoff
  await rejects(file('phoff.pvm', h), 'EBADIMAGE');
});

vm('image larger than guest memory: EIMAGETOOLARGE', async () => {
  await rejects(guest('big'), 'EIMAGETOOLARGE', { memory: '16MiB' }, /MiB/);
});

vm('memory out of range or malformed: EINVAL', async () => {
  await rejects(guest('hello'), 'EINVAL', { memory: 1024 * 1024 });
  await rejects(guest('hello'), 'EINVAL', { memory: '1TiB' });
  await rejects(guest('hello'), 'EINVAL', { memory: 'lots' });
  await rejects(guest('hello'), 'EINVAL', { memory: -5 });
});

vm('arguments too large: E2BIG; bad arguments: EINVAL', async () => {
  await rejects(guest('hello'), 'E2BIG', { args: ['x'.repeat(100_000)] });
  await rejects(guest('hello'), 'EINVAL', { args: ['a\0b'] });
  await rejects(guest('hello'), 'EINVAL', { args: [42] });
});

vm('unknown pVM id: ESRCH', async () => {
  try {
    ctx.host.get(123456);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, PvmError);
    assert.is((err as PvmError).code, 'ESRCH');
  }
});

vm('the host still works after all of that', async () => {
  const pvm = await ctx.host.spawn(guest('exitcode'), { args: ['5'], console: 'ignore' });
  assert.equal(await pvm.exited, { kind: 'exit', code: 5 });
});

suite.run();
