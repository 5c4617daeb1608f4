// An interpreter built from its unmodified sources runs as a pVM: QuickJS (2021-03-27,
// from the npm registry's qjsc package) linked with musl-gcc -static by
// scripts/linux-programs/quickjs.mjs (fetched and built once into build/linux-programs/).
// Where it cannot be built (no musl-gcc, no network) these tests skip, saying why.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { outputOf, vmSuite, withHost } from './_helpers.js';
// @ts-expect-error: a plain .mjs script without types
import { buildQuickJs } from '../scripts/linux-programs/quickjs.mjs';

const qjs: string | { skip: string } = await (buildQuickJs() as Promise<string>).catch((err: Error) => ({
  skip: `QuickJS cannot be built here (${err.message.split('\n')[0]})`,
}));

const { suite, vm } = vmSuite('linux quickjs');
const ctx = withHost(suite);

const test = (title: string, fn: (path: string) => Promise<void>) => {
  if (typeof qjs === 'string') return vm(title, () => fn(qjs));
  console.warn(`(linux quickjs: ${qjs.skip}: "${title}" is SKIPPED)`);
  vm.skip(`${title} [${qjs.skip}]`);
};

/** Runs `qjs args…` in a pVM: its console text and exit status. */
async function quickjs(path: string, ...args: string[]) {
  return outputOf(await ctx.host.spawn(path, { args, memory: '64MiB' }));
}

test('QuickJS runs JavaScript: loops, JSON, regular expressions, sorting, BigInt', async (path) => {
  const program = [
    'let s = 0; for (let i = 0; i < 1e6; i++) s += i;',
    'console.log(s, JSON.stringify({ a: [1, 2, { b: null }] }), /b+/.exec("abbbc")[0],',
    '  [3, 1, 2].sort().join(","), 2n ** 70n, [..."héllo"].reverse().join(""));',
  ].join('\n');
  const { text, status } = await quickjs(path, '-e', program);
  assert.ok(text.endsWith('499999500000 {"a":[1,2,{"b":null}]} bbb 1,2,3 1180591620717411303424 olléh\n'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

test("QuickJS's std module and the clock: printf, the environment, today's date", async (path) => {
  const year = new Date().getUTCFullYear();
  const { text, status } = await quickjs(path, '--std', '-e', 'std.printf("%d-%s\\n", 6 * 7, typeof std.getenv("PATH")); console.log(new Date().getUTCFullYear())');
  assert.ok(text.includes('42-'), text);
  assert.ok(text.includes(String(year)), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

test('QuickJS runs a script file from the pVM\'s files, which reads a data file with std.open', async (path) => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-qjs-'));
  try {
    writeFileSync(join(dir, 'main.js'), 'const f = std.open("/lib/data.txt", "r"); console.log("read:", f.readAsString().trim(), 6 * 7);\n');
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'lib', 'data.txt'), 'from a file\n');
    const { text, status } = await outputOf(await ctx.host.spawn(path, { args: ['--std', '/main.js'], memory: '64MiB', files: { dir } }));
    assert.ok(text.endsWith('read: from a file 42\n'), text);
    assert.equal(status, { kind: 'exit', code: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an uncaught JavaScript exception ends the program with exit code 1 and its message', async (path) => {
  const { text, status } = await quickjs(path, '-e', 'function f() { throw new RangeError("too far") } f()');
  assert.ok(text.includes('RangeError: too far'), text);
  assert.equal(status, { kind: 'exit', code: 1 });
});

test('QuickJS allocating and collecting ~100 MiB over its life in a 64 MiB pVM (the heap grows and shrinks by brk/mmap)', async (path) => {
  const program = [
    'let total = 0;',
    'for (let round = 0; round < 10; round++) {',
    '  const a = new Array(1e6).fill(0).map((_, i) => i + round);',
    '  total += a.reduce((x, y) => x + y, 0) % 1000003;',
    '}',
    'console.log("total=" + total);',
  ].join('\n');
  let expected = 0;
  for (let round = 0; round < 10; round++) expected += ((1e6 * (1e6 - 1)) / 2 + round * 1e6) % 1000003;
  const { text, status } = await quickjs(path, '-e', program);
  assert.ok(text.endsWith(`total=${expected}\n`), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

suite.run();
