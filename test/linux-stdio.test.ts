// A static Linux program's environment (the env spawn option) and standard input from
// the host (the stdin spawn option, Pvm.stdin): test/linux/linux_stdio.c (musl-gcc, built
// by the build when musl-tools is installed) and Debian's busybox-static.
import * as assert from 'uvu/assert';
import { PvmError, type Pvm } from '../lib/index.js';
import { eventually, outputOf, vmSuite, withHost } from './_helpers.js';
import { fetchBusybox, muslProgram } from './_linux.js';

const { path: stdio, skip: noMusl } = muslProgram('linux_stdio');
const busybox = fetchBusybox();

const { suite, vm } = vmSuite('linux stdio');
const ctx = withHost(suite);

const test = (title: string, fn: () => Promise<void>) => {
  if (!noMusl) return vm(title, fn);
  console.warn(`(linux stdio: ${noMusl}: "${title}" is SKIPPED)`);
  vm.skip(`${title} [${noMusl}]`);
};
const bbTest = (title: string, fn: (bb: string) => Promise<void>) => {
  if (typeof busybox === 'string') return vm(title, () => fn(busybox));
  console.warn(`(linux stdio: ${busybox.skip}: "${title}" is SKIPPED)`);
  vm.skip(`${title} [${busybox.skip}]`);
};

/** Collects a pVM's console text as it comes. */
function collect(pvm: Pvm): { readonly text: string } {
  const box = { text: '' };
  pvm.console.setEncoding('utf8').on('data', (d: string) => (box.text += d));
  return box;
}

test('env: the program gets exactly the variables given, in order; without it the default three', async () => {
  const given = await outputOf(await ctx.host.spawn(stdio, { args: ['env'], env: { FOO: 'bar', EMPTY: '', 'A.B': 'x=y z', UTF: 'héllo' } }));
  assert.is(given.text, 'FOO=bar\nEMPTY=\nA.B=x=y z\nUTF=héllo\nenv ok 4\n');
  assert.equal(given.status, { kind: 'exit', code: 0 });
  const none = await outputOf(await ctx.host.spawn(stdio, { args: ['env'], env: {} }));
  assert.is(none.text, 'env ok 0\n');
  const dflt = await outputOf(await ctx.host.spawn(stdio, { args: ['env'] }));
  assert.is(dflt.text, 'PATH=/bin:/usr/bin\nHOME=/\nTERM=dumb\nenv ok 3\n');
});

test('env: typed errors for names with = or NUL, values that are no strings or hold NUL, too much', async () => {
  const bad: Array<[unknown, string]> = [
    [{ 'A=B': 'x' }, 'EINVAL'],
    [{ '': 'x' }, 'EINVAL'],
    [{ 'A\0': 'x' }, 'EINVAL'],
    [{ A: 'x\0y' }, 'EINVAL'],
    [{ A: 1 }, 'EINVAL'],
    [['A=1'], 'EINVAL'],
    ['A=1', 'EINVAL'],
    [{ BIG: 'x'.repeat(70_000) }, 'E2BIG'],
    [Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`V${i}`, 'x'])), 'E2BIG'],
  ];
  for (const [env, code] of bad) {
    try {
      await ctx.host.spawn(stdio, { args: ['env'], env: env as Record<string, string> });
      assert.unreachable(`env ${JSON.stringify(env).slice(0, 40)} was taken`);
    } catch (err) {
      assert.instance(err, PvmError);
      assert.is((err as PvmError).code, code, (err as Error).message);
    }
  }
  assert.is(ctx.host.list().length, 0);
});

test('stdin: a string or a buffer is read to end of file; without the option fd 0 is at end of file', async () => {
  const s = await outputOf(await ctx.host.spawn(stdio, { args: ['cat'], stdin: 'hello, pVM: ünïcode\n' }));
  assert.is(s.text, 'hello, pVM: ünïcode\n\ncat ok 22\n');
  const bytes = Buffer.from(Array.from({ length: 200_000 }, (_, i) => 97 + (i % 26)));
  const b = await outputOf(await ctx.host.spawn(stdio, { args: ['cat'], stdin: bytes }));
  assert.is(b.text, `${bytes.toString('latin1')}\ncat ok 200000\n`);
  const none = await ctx.host.spawn(stdio, { args: ['cat'] });
  assert.is(none.stdin, null);
  assert.is((await outputOf(none)).text, '\ncat ok 0\n');
  try {
    await ctx.host.spawn(stdio, { args: ['cat'], stdin: 42 as unknown as string });
    assert.unreachable('stdin: 42');
  } catch (err) {
    assert.is((err as PvmError).code, 'EINVAL');
  }
});

test("stdin: 'pipe': what the host writes is read in order; a blocked read waits for the host, end() is end of file", async () => {
  const pvm = await ctx.host.spawn(stdio, { args: ['cat'], stdin: 'pipe' });
  const out = collect(pvm);
  assert.ok(pvm.stdin, 'pvm.stdin');
  pvm.stdin.write('first ');
  // The program reads it and then blocks in read(0): asleep, waiting for the host (no spinning).
  assert.ok(await eventually(() => out.text === 'first '), out.text);
  assert.ok(await eventually(() => pvm.activity?.state === 'accept'), JSON.stringify(pvm.activity));
  pvm.stdin.write(Buffer.from('second '));
  assert.ok(await eventually(() => out.text === 'first second '), out.text);
  pvm.stdin.end('third');
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  assert.is(out.text, 'first second third\ncat ok 18\n');
  pvm.stdin.destroy();
});

test('stdin: O_NONBLOCK reads are EAGAIN, poll and select wait for the bytes, FIONREAD counts them', async () => {
  const pvm = await ctx.host.spawn(stdio, { args: ['poll'], stdin: 'pipe' });
  const out = collect(pvm);
  assert.ok(await eventually(() => out.text.includes('waiting\n')), out.text);
  pvm.stdin!.write('abc');
  assert.ok(await eventually(() => out.text.includes('got abc fionread 3\n')), out.text);
  pvm.stdin!.end();
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  assert.ok(out.text.endsWith('poll ok\n'), out.text);
});

test("stdin across a guest's fork: the child reads a copy of what its parent had not read, then end of file", async () => {
  const { text, status } = await outputOf(await ctx.host.spawn(stdio, { args: ['fork'], stdin: 'abcdef' }));
  // (the two pVMs' lines reach the console in either order)
  assert.ok(text.includes('child cdef\n'), text);
  assert.ok(text.includes('fork ok ab parent cdef\n'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

test("stdin across the host's fork: the child gets a stdin of its own, empty and open; the parent's is untouched", async () => {
  const parent = await ctx.host.spawn(stdio, { args: ['cat'], stdin: 'pipe' });
  const parentOut = collect(parent);
  parent.stdin!.write('p1 ');
  assert.ok(await eventually(() => parentOut.text === 'p1 ' && parent.activity?.state === 'accept'), parentOut.text);
  const { child, channel } = await parent.fork();
  channel.close();
  assert.ok(child.stdin, 'child.stdin');
  const childOut = collect(child);
  child.stdin.end('c1');
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  assert.is(childOut.text, 'c1\ncat ok 5\n'); // it counts the parent's 3 bytes read before the fork too
  parent.stdin!.end('p2');
  assert.equal(await parent.exited, { kind: 'exit', code: 0 });
  assert.is(parentOut.text, 'p1 p2\ncat ok 5\n');
});

bbTest('stdin through busybox sh: a pipeline of forked and exec\'d commands reads the input given', async (bb) => {
  const one = await outputOf(await ctx.host.spawn(bb, { args: ['sh', '-c', 'wc -c'], stdin: 'hello' }));
  assert.is(one.text.trim(), '5');
  const pipeline = await outputOf(await ctx.host.spawn(bb, { args: ['sh', '-c', 'cat | sort -r'], stdin: 'a\nc\nb\n' }));
  assert.is(pipeline.text, 'c\nb\na\n');
  const read = await outputOf(await ctx.host.spawn(bb, { args: ['sh', '-c', 'read x; echo "got $x $FOO"'], stdin: 'line\n', env: { FOO: 'bar' } }));
  assert.is(read.text, 'got line bar\n');
});

suite.run();
