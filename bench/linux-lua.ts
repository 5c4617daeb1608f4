// linux.lua.toExit: `lua -e ''` (Lua 5.4.4 from Debian's sources, linked with musl-gcc
// -static by scripts/linux-programs/lua.mjs) in a pVM, spawn to exit (ms, median);
// baseline: the same binary run natively (spawnSync to exit), same run.
// linux.lua.compute: a Lua workload (table inserts, string building, a closure call per
// step) timed by Lua itself (os.clock around it, so start-up is not in it), in a pVM and
// natively.
// linux.lua.execute: ms per `os.execute('exit 0')` (a fork of the pVM, an exec of sh --
// busybox beside lua under that name -- and the wait), from a run of EXECUTES calls less
// the run of `lua -e ''`; baseline: the same lua natively, whose system() runs the host's
// /bin/sh (not busybox: musl's system() names /bin/sh).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../lib/index.js';
import { median, round, type Result } from './lib.js';
import { busybox } from './linux.js';

const WORKLOAD = [
  'local t0 = os.clock() local acc, t = 0, {}',
  'local function f(i) return ("k" .. i):len() end',
  'for i = 1, 300000 do t[#t + 1] = i; acc = acc + f(i) + #tostring(i * 3) end',
  'print(("ms=%.2f acc=%d"):format((os.clock() - t0) * 1000, acc + #t))',
].join('\n');
const EXECUTES = 20;
const EXECUTE = `for i = 1, ${EXECUTES} do assert(os.execute("exit 0")) end`;

function msOf(text: string): number {
  const m = /ms=([\d.]+) acc=/.exec(text);
  if (!m) throw new Error(`unexpected lua output: ${text.slice(0, 200)}`);
  return Number(m[1]);
}

async function inPvm(host: Host, lua: string, args: string[]): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const pvm = await host.spawn(lua, { args, memory: '64MiB' });
  let text = '';
  for await (const chunk of pvm.console) text += chunk;
  const status = await pvm.exited;
  const ms = performance.now() - t0;
  if (status.kind !== 'exit' || status.code !== 0) throw new Error(`lua in a pVM ended ${JSON.stringify(status)}: ${text.slice(0, 200)}`);
  return { ms, text };
}

function natively(lua: string, args: string[]): { ms: number; text: string } {
  const t0 = performance.now();
  const r = spawnSync(lua, args, { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`lua natively: ${r.stderr}`);
  return { ms, text: r.stdout };
}

export async function benchLua(host: Host, runs: number): Promise<Result[]> {
  const names = ['linux.lua.toExit', 'linux.lua.compute', 'linux.lua.execute'];
  const skipped = (why: string, which = names): Result[] => which.map((name) => ({ name, unit: 'ms', value: NaN, skipped: why }));
  if (host.backend !== 'kvm') return skipped(`Linux programs run on kvm only (this host is ${host.backend})`);
  let lua: string;
  try {
    // The build script is the checkout's, not the package's: loaded when there (from the
    // sources, not dist/), else the figures are skipped.
    const script = new URL('../scripts/linux-programs/lua.mjs', import.meta.url);
    const { buildLua } = (await import(script.href)) as { buildLua: () => Promise<string> };
    lua = await buildLua();
  } catch (err) {
    return skipped(`Lua cannot be built here (${(err as Error).message})`);
  }
  const bb = await busybox();
  // execve finds /bin/sh by name in the image's directory: lua and busybox as sh, side by side.
  const images = typeof bb === 'string' ? mkdtempSync(join(tmpdir(), 'pvm-bench-lua-')) : undefined;
  if (images) {
    symlinkSync(lua, join(images, 'lua'));
    symlinkSync(bb as string, join(images, 'sh'));
  }
  try {
    const [exitPvm, exitNative, computePvm, computeNative, execPvm, execNative]: number[][] = [[], [], [], [], [], []];
    for (let i = 0; i < runs + 1; i++) {
      const a = await inPvm(host, lua, ['-e', '']);
      const b = natively(lua, ['-e', '']);
      const c = msOf((await inPvm(host, lua, ['-e', WORKLOAD])).text);
      const d = msOf(natively(lua, ['-e', WORKLOAD]).text);
      const e = images ? (await inPvm(host, join(images, 'lua'), ['-e', EXECUTE])).ms : NaN;
      const f = natively(lua, ['-e', EXECUTE]).ms;
      if (i === 0) continue; // warm-up: page cache, the spawn pool
      exitPvm.push(a.ms);
      exitNative.push(b.ms);
      computePvm.push(c);
      computeNative.push(d);
      execPvm.push((e - a.ms) / EXECUTES);
      execNative.push((f - b.ms) / EXECUTES);
    }
    return [
      { name: names[0]!, unit: 'ms', value: round(median(exitPvm), 2), baseline: { name: 'the same lua run natively (spawn to exit)', value: round(median(exitNative), 2) } },
      { name: names[1]!, unit: 'ms', value: round(median(computePvm), 1), baseline: { name: 'the same workload in lua natively', value: round(median(computeNative), 1) } },
      images
        ? { name: names[2]!, unit: 'ms', value: round(median(execPvm), 2), baseline: { name: "the same lua natively (os.execute runs the host's /bin/sh)", value: round(median(execNative), 2) } }
        : skipped((bb as { skip: string }).skip, [names[2]!])[0]!,
    ];
  } finally {
    if (images) rmSync(images, { recursive: true, force: true });
  }
}
