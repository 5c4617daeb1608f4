// Every image carries the pvm ABI version it was built for (an ELF note the runtime's link
// step writes); the monitor refuses a different one with EABI, from spawn, the host's
// exec and a guest's EXEC alike, and a missing one too except where it runs as a static
// Linux program (kvm and process: spawn and exec). The bad images are made here from a built one by
// patching its note.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { inspect } from 'node:util';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { Host, PvmError } from '../lib/index.js';
import { backend, consoleOf, guest, outputOf, rejects, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('abi-check');
const ctx = withHost(suite);
const V = abi.version;

/** Offset of the pvm ABI note's header in an image (namesz 4, descsz 4, type, "pvm\0"). */
function noteAt(image: Buffer): number {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(4, 0);
  header.writeUInt32LE(4, 4);
  header.writeUInt32LE(abi.abiNote.TYPE, 8);
  header.write(`${abi.abiNote.NAME}\0`, 12, 'latin1');
  const at = image.indexOf(header);
  if (at < 0 || image.indexOf(header, at + 1) >= 0) throw new Error('expected exactly one pvm ABI note');
  return at;
}

let dir = '';
const paths = { old: '', future: '', none: '' };
suite.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvm-abi-'));
  const hello = readFileSync(guest('hello'));
  const at = noteAt(hello);
  assert.is(hello.readUInt32LE(at + 16), V, 'built images carry this ABI version');
  const patched = (edit: (b: Buffer) => void, name: string) => {
    const b = Buffer.from(hello);
    edit(b);
    const path = join(dir, `${name}.pvm`);
    writeFileSync(path, b, { mode: 0o755 });
    return path;
  };
  paths.old = patched((b) => b.writeUInt32LE(V - 1, at + 16), 'old');
  paths.future = patched((b) => b.writeUInt32LE(V + 1, at + 16), 'future');
  paths.none = patched((b) => b.write('xyz', at + 12, 'latin1'), 'none'); // no note named "pvm" is left
});
suite.after(() => rmSync(dir, { recursive: true, force: true }));

/** Whether this half's backend runs static Linux programs (kvm, and process with FSGSBASE). */
const runsLinux = () => backend() === 'kvm' || backend() === 'process';

const mismatch = (built: number) =>
  `image built for pvm ABI ${built}, this monitor speaks ${V}; rebuild it with \`npx pvm cc\``;
const missing = `image has no pvm ABI note (this monitor speaks pvm ABI ${V}); rebuild it with \`npx pvm cc\``;

async function spawnError(path: string): Promise<PvmError> {
  try {
    const pvm = await ctx.host.spawn(path, { memory: '16MiB' });
    await pvm.exited;
  } catch (err) {
    assert.instance(err, PvmError);
    return err as PvmError;
  }
  throw new Error(`spawn of ${path} did not fail`);
}

vm('spawn: an image of another ABI version, or with no ABI note where Linux programs cannot run, is refused with EABI', async () => {
  // With no pvm note an image is a static Linux program: kvm and process run it with the Linux
  // personality (test/linux.test.ts); a pvm image stripped of its note is no Linux
  // program, and faults at once (its crt0 finds no boot-info page).
  const linux = runsLinux();
  if (linux) {
    const { status } = await outputOf(await ctx.host.spawn(paths.none, { memory: '16MiB' }));
    assert.is(status.kind, 'fault', inspect(status));
  }
  for (const [path, message] of [
    [paths.old, mismatch(V - 1)],
    [paths.future, mismatch(V + 1)],
    ...(linux ? [] : [[paths.none, missing]]),
  ] as const) {
    const err = await spawnError(path);
    assert.is(err.code, 'EABI', `${path}: ${err.code} ${err.message}`);
    assert.ok(err.message.includes(message), err.message);
  }
  // The image it was patched from runs.
  const { status } = await outputOf(await ctx.host.spawn(guest('hello'), { memory: '16MiB' }));
  assert.equal(status, { kind: 'exit', code: 0 });
});

vm('host exec: EABI, and the old image goes on (kvm, process: an image with no note is exec\'d as a Linux program)', async () => {
  const linux = runsLinux();
  const pvm = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
  await consoleOf(pvm).until('idle: ready');
  await rejects(pvm.exec(paths.old), 'EABI');
  if (!linux) {
    await pvm.exec(paths.none).then(
      () => assert.unreachable('exec of an image with no note worked'),
      (err: PvmError) => {
        assert.is(err.code, 'EABI');
        assert.ok(err.message.includes(missing), err.message);
      },
    );
  }
  // Still the old image, still serving: a good exec works.
  await pvm.exec(guest('hello'), { args: ['after'] });
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  if (linux) {
    // With the Linux personality, as spawn does: a pvm image stripped of its note is no
    // Linux program and faults once it runs.
    const other = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
    await consoleOf(other).until('idle: ready');
    await other.exec(paths.none);
    assert.is((await other.exited).kind, 'fault');
  }
});

vm("a guest's EXEC: the guest gets ENOEXEC and runs on; the host hears EABI (execError)", async () => {
  const linux = runsLinux();
  const host = await Host.open({ imagePath: [dir] });
  try {
    for (const [name, message] of [
      ['old', mismatch(V - 1)],
      ['none', missing],
    ] as const) {
      const pvm = await host.spawn(guest('exec_one'), { args: [name], memory: '16MiB' });
      const errors: PvmError[] = [];
      pvm.on('execError', (e) => errors.push(e));
      const { text, status } = await outputOf(pvm);
      if (linux && name === 'none') {
        // kvm and process run it as a static Linux program (which this stripped image is not: it faults).
        assert.is(status.kind, 'fault', text);
        assert.is(errors.length, 0);
        continue;
      }
      assert.ok(text.includes(`exec ${name}: ENOEXEC`), text);
      assert.equal(status, { kind: 'exit', code: 0 });
      assert.is(errors.length, 1);
      assert.is(errors[0]!.code, 'EABI');
      assert.ok(errors[0]!.message.includes(message), errors[0]!.message);
      assert.is(errors[0]!.path, join(dir, `${name}.pvm`));
    }
  } finally {
    await host.close();
  }
});

suite.run();
