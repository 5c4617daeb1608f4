// Lua 5.4 built from its unmodified sources (Debian bookworm's lua5.4 5.4.4 tarball,
// linked with musl-gcc -static by scripts/linux-programs/lua.mjs, built once into
// build/linux-programs/) runs as a pVM, and a script that forks forks the pVM: os.execute
// and io.popen run /bin/sh -c through posix_spawn, the child pVM execs `sh` found by name
// in the image's directory, here busybox under that name. Where lua cannot be built (no
// musl-gcc, no network) or busybox cannot be fetched, the tests skip, saying why.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import type { ForkInfo, Pvm } from '../lib/index.js';
import { outputOf, vmSuite, withHost } from './_helpers.js';
import { builtProgram, fetchBusybox, imageDirectory } from './_linux.js';
// @ts-expect-error: a plain .mjs script without types
import { buildLua } from '../scripts/linux-programs/lua.mjs';

const lua = await builtProgram('Lua', buildLua as () => Promise<string>);
const busybox = fetchBusybox();

const { suite, vm } = vmSuite('linux lua');
const ctx = withHost(suite);

/** `lua` and busybox as `sh` in one directory: /bin/sh is looked up there by name. */
let images: { dir: string; remove(): void } | undefined;
suite.before(() => {
  if (typeof lua === 'string' && typeof busybox === 'string') images = imageDirectory({ lua, sh: busybox });
});
suite.after(() => images?.remove());

const test = (title: string, fn: (path: string) => Promise<void>, needs: { shell?: boolean } = {}) => {
  const skip = typeof lua !== 'string' ? lua.skip : needs.shell && typeof busybox !== 'string' ? busybox.skip : false;
  if (!skip) return vm(title, () => fn(needs.shell ? join(images!.dir, 'lua') : (lua as string)));
  console.warn(`(linux lua: ${skip}: "${title}" is SKIPPED)`);
  vm.skip(`${title} [${skip}]`);
};

const spawnLua = (path: string, args: string[], files?: { dir: string }) => ctx.host.spawn(path, { args, memory: '64MiB', ...(files ? { files } : {}) });

/** Runs `lua -e chunk` in a pVM: its console text and exit status. */
async function luaE(path: string, chunk: string) {
  return outputOf(await spawnLua(path, ['-e', chunk]));
}

/** A host directory holding `files` (name -> text), removed after `fn`. */
async function withFiles<T>(files: Record<string, string>, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-lua-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('Lua runs: print, arithmetic, strings, tables, closures, coroutines', async (path) => {
  const chunk = [
    'print(1 + 2, 7 // 2, 7 / 2, 2^10, 10 % 3, math.maxinteger, 0x10)',
    'print(("héllo"):upper(), string.format("%5.2f|%d|%s", math.pi, 42, "x"), ("a,b,c"):gsub(",", ";"))',
    'local t = {} for i = 1, 10 do t[#t + 1] = i * i end table.sort(t, function(a, b) return a > b end)',
    'print(#t, table.concat(t, " "))',
    'local function counter() local n = 0 return function() n = n + 1 return n end end',
    'local c = counter() c() c() print("closure", c())',
    'local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) print("resumed with", b) return "done" end)',
    'print("yielded", co(1)) print(co("x"))',
  ].join('\n');
  const { text, status } = await luaE(path, chunk);
  assert.is(
    text,
    [
      '3\t3\t3.5\t1024.0\t1\t9223372036854775807\t16',
      'HéLLO\t 3.14|42|x\ta;b;c\t2',
      '10\t100 81 64 49 36 25 16 9 4 1',
      'closure\t3',
      'yielded\t2',
      'resumed with\tx',
      'done',
      '',
    ].join('\n'),
  );
  assert.equal(status, { kind: 'exit', code: 0 });
});

test("a script file from the pVM's files (`lua /script.lua a b`), with its arguments and a module it requires", async (path) => {
  await withFiles(
    {
      'script.lua': 'local m = require("helper")\nprint(arg[0], arg[1], arg[2], #arg, m.twice(21))\n',
      'helper.lua': 'return { twice = function(x) return 2 * x end }\n',
    },
    async (dir) => {
      // LUA_PATH's default includes ./?.lua, and the pVM's working directory is /.
      const { text, status } = await outputOf(await spawnLua(path, ['/script.lua', 'a', 'b'], { dir }));
      assert.is(text, '/script.lua\ta\tb\t2\t42\n');
      assert.equal(status, { kind: 'exit', code: 0 });
    },
  );
});

test("io.open writes a file in the pVM's filesystem and reads it back; the host directory is not written", async (path) => {
  await withFiles({ 'in.txt': 'one\ntwo\n' }, async (dir) => {
    const chunk = [
      'local lines = {} for l in io.lines("/in.txt") do lines[#lines + 1] = l end',
      'local f = assert(io.open("/out.txt", "w")) f:write(table.concat(lines, "+"), "\\n", 42, "\\n") f:close()',
      'f = assert(io.open("/out.txt", "a")) f:write("appended\\n") f:close()',
      'f = assert(io.open("/out.txt")) print(f:read("l"), f:read("n"), f:read("a")) f:close()',
      'print(io.open("/missing.txt"))',
      'print(os.remove("/out.txt"), io.open("/out.txt") == nil)',
    ].join('\n');
    const { text, status } = await outputOf(await spawnLua(path, ['-e', chunk], { dir }));
    assert.is(text, 'one+two\t42\t\nappended\n\nnil\t/missing.txt: No such file or directory\t2\ntrue\ttrue\n');
    assert.equal(status, { kind: 'exit', code: 0 });
    assert.equal(readdirSync(dir), ['in.txt']);
  });
});

test('an error ends lua with exit code 1 and the message with its traceback', async (path) => {
  const { text, status } = await luaE(path, 'local function f() error("boom: " .. 6 * 7) end f()');
  assert.ok(text.includes('(command line):1: boom: 42\nstack traceback:'), text);
  assert.equal(status, { kind: 'exit', code: 1 });
});

test('os.exit(3) ends the pVM with exit code 3', async (path) => {
  const { text, status } = await luaE(path, 'io.write("bye\\n") os.exit(3)');
  assert.is(text, 'bye\n');
  assert.equal(status, { kind: 'exit', code: 3 });
});

test("os.time is the host's time, os.date formats it, os.clock counts this process's run time from 0", async (path) => {
  const chunk = [
    'local c0 = os.clock() local s = 0 for i = 1, 2e6 do s = s + i end local c1 = os.clock()',
    'print(os.time(), os.date("!%Y", os.time()), c0, c1 - c0, os.time({ year = 2000, month = 1, day = 1, hour = 12 }) > 0)',
  ].join('\n');
  const before = Math.floor(Date.now() / 1000);
  const { text, status } = await luaE(path, chunk);
  const after = Math.ceil(Date.now() / 1000);
  assert.equal(status, { kind: 'exit', code: 0 });
  const [time, year, c0, spent, past] = text.trim().split('\t');
  assert.ok(Number(time) >= before && Number(time) <= after, text);
  assert.is(year, String(new Date().getUTCFullYear()));
  assert.ok(Number(c0) >= 0 && Number(c0) < 5, `os.clock() at start: ${c0}`); // not the host's uptime
  assert.ok(Number(spent) > 0 && Number(spent) < 30, `os.clock() over a loop: ${spent}`);
  assert.is(past, 'true');
});

/** Runs `chunk` in lua from the image directory, recording the fork children and what each exec'd. */
async function forkingLua(path: string, chunk: string) {
  const pvm = await spawnLua(path, ['-e', chunk]);
  const forks: ForkInfo[] = [];
  const execs = new Map<Pvm, string[]>();
  pvm.on('fork', (f) => {
    forks.push(f);
    execs.set(f.child, []);
    f.child.on('exec', (e) => execs.get(f.child)!.push(e.image));
  });
  const out = await outputOf(pvm);
  const children = await Promise.all(forks.map(async (f) => ({ id: f.child.id, status: await f.child.exited, execs: execs.get(f.child)! })));
  return { ...out, pid: pvm.id, children };
}

test("a script that forks: os.execute('echo hi') runs /bin/sh in a child pVM (a fork, then an exec of sh)", async (path) => {
  const { text, status, children } = await forkingLua(path, 'print(os.execute("echo hi"))');
  assert.is(text, 'hi\ntrue\texit\t0\n');
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.is(children.length, 1);
  assert.equal(children[0]!.execs, [join(images!.dir, 'sh')]);
  assert.equal(children[0]!.status, { kind: 'exit', code: 0 });
}, { shell: true });

test("io.popen('echo a; echo b'):read('a') reads the child's output through a pipe", async (path) => {
  const chunk = 'local p = io.popen("echo a; echo b") local s = p:read("a") print(#s, s, p:close())';
  const { text, status, children } = await forkingLua(path, chunk);
  assert.is(text, '4\ta\nb\n\ttrue\texit\t0\n');
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.is(children.length, 1);
  assert.equal(children[0]!.execs, [join(images!.dir, 'sh')]);
}, { shell: true });

test("os.execute's status comes back: exit 7, a command sh cannot find (127), and the shell's own pid is a pVM's", async (path) => {
  const chunk = [
    'print(os.execute("exit 7"))',
    'print(os.execute("no-such-command 2>/dev/null"))',
    'local p = io.popen("echo $$ $PPID") print(p:read("l")) p:close()',
    'local w = io.popen("cat > /dev/null", "w") w:write("to the child\\n") print(w:close())',
  ].join('\n');
  const { text, status, pid, children } = await forkingLua(path, chunk);
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.is(children.length, 4);
  const lines = text.split('\n');
  assert.is(lines[0], 'nil\texit\t7', text);
  assert.is(lines[1], 'nil\texit\t127', text);
  assert.is(lines[2], `${children[2]!.id} ${pid}`, text); // sh's pid is its pVM id, its parent lua's
  assert.is(lines[3], 'true\texit\t0', text);
  assert.equal(children.map((c) => c.status), [7, 127, 0, 0].map((code) => ({ kind: 'exit', code })));
}, { shell: true });

test("the shell a script runs sees the files lua wrote before it forked; what the shell writes stays its own", async (path) => {
  const chunk = [
    'local f = assert(io.open("/note.txt", "w")) f:write("from lua\\n") f:close()',
    'local p = io.popen("cat /note.txt; echo child > /child.txt; cat /child.txt") io.write(p:read("a")) p:close()',
    'print(io.open("/child.txt"))',
  ].join('\n');
  const { text, status, children } = await forkingLua(path, chunk);
  assert.is(text, 'from lua\nchild\nnil\t/child.txt: No such file or directory\t2\n');
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.is(children.length, 1);
}, { shell: true });

suite.run();
