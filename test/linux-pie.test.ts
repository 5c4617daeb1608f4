// static-pie Linux programs (ET_DYN with no interpreter: `-static-pie` with musl, Rust's
// default static target) run as pVMs on kvm and process: the loader puts them at a base
// of its own (4 MiB), AT_PHDR/AT_ENTRY name where they went, AT_BASE is 0 as Linux gives
// a program without an interpreter, and musl's rcrt1 relocates the program itself. The
// programs: test/linux/linux_check.c and linux_proc.c linked static-pie by the build
// (build/linux/<name>_pie; skipped, saying so, without musl-gcc), and linux_check as a
// glibc static-pie (build/linux/linux_check_glibc_pie, where gcc can link one). A
// malformed one is EBADIMAGE with the reason.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { PvmError } from '../lib/index.js';
import { outputOf, vmSuite, withHost } from './_helpers.js';
import { muslProgram } from './_linux.js';

const { path: check, skip: noCheck } = muslProgram('linux_check_pie');
const { path: proc, skip: noProc } = muslProgram('linux_proc_pie');
const glibc = muslProgram('linux_check_glibc_pie'); // built by the host's gcc (glibc), not musl-gcc
const noGlibc = glibc.skip && `the host C compiler cannot link -static-pie (glibc's libc.a), so build/linux/linux_check_glibc_pie was not built`;

const { suite, vm } = vmSuite('linux static-pie');
const ctx = withHost(suite);
let dir = '';
suite.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvm-pie-'));
});
suite.after(() => rmSync(dir, { recursive: true, force: true }));

const pieTest = (title: string, fn: () => Promise<void>, skip: string | false) => {
  if (skip) {
    console.warn(`(linux static-pie: ${skip}: "${title}" is SKIPPED)`);
    vm.skip(`${title} [${skip}]`);
  } else vm(title, fn);
};

async function run(image: string, ...args: string[]) {
  return outputOf(await ctx.host.spawn(image, { args, memory: '64MiB' }));
}

pieTest('a static-pie program loads at the loader\'s base: AT_ENTRY, AT_PHDR where it went, AT_BASE 0; argv and envp', async () => {
  const load = await run(check, 'load');
  assert.ok(load.text.includes('load type=dyn at=0x400000 home=/'), load.text);
  assert.ok(load.text.includes('load ok'), load.text);
  assert.equal(load.status, { kind: 'exit', code: 0 });
  const start = await run(check, 'start', 'one', 'two words');
  assert.ok(start.text.includes(`argc=4 argv[0]=${check} argv[1]=start argv[2]=one argv[3]=two words`), start.text);
  assert.ok(start.text.includes('start ok'), start.text);
  assert.equal(start.status, { kind: 'exit', code: 0 });
}, noCheck);

pieTest('a static-pie program: malloc-heavy work, TLS, its syscall sites made calls', async () => {
  for (const mode of ['malloc', 'tls', 'site']) {
    const { text, status } = await run(check, mode);
    assert.ok(text.includes(`${mode} ok`), text);
    assert.equal(status, { kind: 'exit', code: 0 }, text);
  }
}, noCheck);

pieTest('a static-pie program forks (each process a pVM), waits, pipes, copy-on-write', async () => {
  const forked = await run(proc, 'forkwait', '3');
  assert.ok(forked.text.includes('forkwait ok status 3'), forked.text);
  assert.equal(forked.status, { kind: 'exit', code: 0 });
  for (const mode of ['pipe', 'cow']) {
    const { text, status } = await run(proc, mode);
    assert.ok(text.includes(`${mode} ok`), text);
    assert.equal(status, { kind: 'exit', code: 0 }, text);
  }
}, noProc);

pieTest('a glibc static-pie program (gcc -static-pie) loads and runs the same way', async () => {
  const load = await run(glibc.path, 'load');
  assert.ok(load.text.includes('load type=dyn at=0x400000 home=/'), load.text);
  assert.ok(load.text.includes('load ok'), load.text);
  for (const mode of ['malloc', 'tls', 'site']) {
    const { text, status } = await run(glibc.path, mode);
    assert.ok(text.includes(`${mode} ok`), text);
    assert.equal(status, { kind: 'exit', code: 0 }, text);
  }
}, noGlibc);

/** linux_check_pie with one of its PT_LOAD headers changed by `edit` (the header's bytes). */
function patched(name: string, edit: (loads: DataView[]) => void): string {
  const bytes = readFileSync(check);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(view.getBigUint64(0x20, true));
  const phnum = view.getUint16(0x38, true);
  const loads: DataView[] = [];
  for (let i = 0; i < phnum; i++) {
    const ph = new DataView(bytes.buffer, bytes.byteOffset + phoff + i * 56, 56);
    if (ph.getUint32(0, true) === 1) loads.push(ph); // PT_LOAD
  }
  edit(loads);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function refused(image: string, pattern: RegExp) {
  const err = await ctx.host.spawn(image, { memory: '64MiB' }).then(
    (pvm) => pvm.exited.then(() => assert.unreachable(`${image} ran`)),
    (e: unknown) => e,
  );
  assert.instance(err, PvmError);
  assert.is((err as PvmError).code, 'EBADIMAGE', String(err));
  assert.match((err as PvmError).message, pattern);
}

const VADDR = 16, MEMSZ = 40, ALIGN = 48;

pieTest('a malformed static-pie is EBADIMAGE with the reason: overlapping segments, a bad alignment, beyond any RAM', async () => {
  await refused(
    patched('overlap', (l) => l[1]!.setBigUint64(VADDR, l[0]!.getBigUint64(VADDR, true), true)),
    /static-pie: segment \d+ at 0x[0-9a-f]+ overlaps or precedes segment \d+/,
  );
  await refused(patched('align', (l) => l[0]!.setBigUint64(ALIGN, 0x3000n, true)), /static-pie: segment \d+ alignment 0x3000 is not a power of two/);
  await refused(patched('huge', (l) => l[l.length - 1]!.setBigUint64(MEMSZ, 1n << 40n, true)), /static-pie: segment \d+ at 0x[0-9a-f]+\+0x10000000000 is beyond any guest RAM/);
}, noCheck);

suite.run();
