// Snapshots: pvm.snapshot(file) writes a pVM's state, host.spawn({ snapshot: file }) starts
// new pVMs from it that go on from there, isolated from each other, unique, sharing the
// file's pages; a file that cannot be loaded is EBADSNAPSHOT with its reason, never a crash.
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host, PvmError, type Pvm, type SnapshotFaultReason } from '../lib/index.js';
import { backend, consoleOf, eventually, guest, monitorsUnder, openFds, rejects, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('snapshots');
const ctx = withHost(suite);
let dir = '';
suite.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvm-snapshot-'));
});
suite.after(() => rmSync(dir, { recursive: true, force: true }));

// snapshot_file.h: the header's version field, and where stored pages start at the latest.
const VERSION_OFFSET = 8;

interface Check {
  sum: string;
  counter: number;
  gen: number;
  rand: number;
  id: number;
}

/** One command to a snapshot_state guest, on a channel of its own. */
async function ask(host: Host, pvm: Pvm, command: string): Promise<string> {
  const channel = await host.channel(pvm);
  await channel.send(command);
  const answer = await channel.recv();
  channel.close();
  return String(answer);
}

async function check(host: Host, pvm: Pvm): Promise<Check> {
  const text = await ask(host, pvm, 'check');
  const m = /^sum=(\d+) counter=(\d+) gen=(\d+) rand=(-?\d+) id=(\d+)$/.exec(text);
  assert.ok(m, text);
  return { sum: m![1]!, counter: Number(m![2]), gen: Number(m![3]), rand: Number(m![4]), id: Number(m![5]) };
}

/** A snapshot_state guest that has built its state (`mib` MiB of pattern), and its snapshot. */
async function built(name: string, mib = 8): Promise<{ pvm: Pvm; file: string; sum: string; counter: number }> {
  const pvm = await ctx.host.spawn(guest('snapshot_state'), { memory: '32MiB', args: [String(mib)] });
  const out = consoleOf(pvm);
  await out.until('\n');
  const m = /built sum=(\d+) counter=(\d+)/.exec(out.text());
  assert.ok(m, out.text());
  const file = join(dir, name);
  const info = await pvm.snapshot(file);
  assert.is(info.file, file);
  assert.ok(existsSync(file), 'the file is in place');
  assert.not.ok(existsSync(`${file}.tmp`), 'no .tmp left');
  assert.ok(info.pages >= mib * 256 && info.pages < 8192, `${info.pages} pages stored (the non-zero ones of 32 MiB)`);
  assert.ok(info.bytes >= info.pages * 4096, `${info.bytes} bytes`);
  return { pvm, file, sum: m![1]!, counter: Number(m![2]) };
}

// smaps figures (kB) of the mappings of `file` in process `pid`: resident, mapped by
// another process too (clean or dirty: the page cache may not be written back yet), and
// anonymous (copies made by a write: copy-on-write).
function fileMapping(pid: number, file: string): { rss: number; shared: number; copied: number } {
  const out = { rss: 0, shared: 0, copied: 0 };
  let inFile = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
      inFile = line.endsWith(file);
      continue;
    }
    if (!inFile) continue;
    const m = /^(Rss|Shared_Clean|Shared_Dirty|Anonymous):\s+(\d+) kB/.exec(line);
    if (m?.[1] === 'Rss') out.rss += Number(m[2]);
    if (m?.[1] === 'Shared_Clean' || m?.[1] === 'Shared_Dirty') out.shared += Number(m[2]);
    if (m?.[1] === 'Anonymous') out.copied += Number(m[2]);
  }
  return out;
}

vm('spawns from a snapshot go on from its state, isolated from each other and from the original', async () => {
  const { pvm: original, file, sum, counter } = await built('state.snap');
  const a = await ctx.host.spawn({ snapshot: file });
  const b = await ctx.host.spawn({ snapshot: file });
  assert.is.not(a.id, b.id);
  assert.is(a.parent, null, 'a fresh root pVM');
  const ca = await check(ctx.host, a);
  const cb = await check(ctx.host, b);
  for (const c of [ca, cb]) {
    assert.is(c.sum, sum, 'RAM as it was when the snapshot was written');
    assert.is(c.counter, counter);
  }
  assert.is(ca.id, a.id, 'the guest sees its new id');
  assert.is(cb.id, b.id);
  // A writes all of its buffer: neither B nor the original sees it.
  assert.is(await ask(ctx.host, a, 'write 7'), 'wrote');
  const after = await check(ctx.host, a);
  assert.is.not(after.sum, sum);
  assert.is(after.counter, counter + 1);
  assert.is((await check(ctx.host, b)).sum, sum);
  assert.is((await check(ctx.host, original)).sum, sum);
  // And the original's writes do not reach them.
  assert.is(await ask(ctx.host, original, 'write 9'), 'wrote');
  assert.is((await check(ctx.host, b)).sum, sum);
  for (const p of [a, b, original]) await ask(ctx.host, p, 'exit').catch(() => {});
  for (const p of [a, b, original]) assert.equal(await p.exited, { kind: 'exit', code: 0 });
});

vm('unique: each spawn gets a new generation and draws other random numbers; uniqueClones: false keeps them', async () => {
  const { pvm: original, file } = await built('unique.snap');
  const base = await check(ctx.host, original);
  assert.is(base.gen, 0);
  const spawns = [await ctx.host.spawn({ snapshot: file }), await ctx.host.spawn({ snapshot: file })];
  const draws = await Promise.all(spawns.map((p) => check(ctx.host, p)));
  for (const d of draws) assert.is(d.gen, 1, 'a generation past the snapshot\'s');
  assert.is.not(draws[0]!.rand, draws[1]!.rand, `two spawns drew ${draws[0]!.rand} and ${draws[1]!.rand}`);
  const same = [await ctx.host.spawn({ snapshot: file, uniqueClones: false }), await ctx.host.spawn({ snapshot: file, uniqueClones: false })];
  const sameDraws = await Promise.all(same.map((p) => check(ctx.host, p)));
  for (const d of sameDraws) assert.is(d.gen, 0, 'uniqueClones: false keeps the generation');
  assert.is(sameDraws[0]!.rand, sameDraws[1]!.rand, 'and both draw what the snapshot would');
  for (const p of [...spawns, ...same, original]) p.kill();
  await Promise.all([...spawns, ...same, original].map((p) => p.exited));
});

vm('pVMs of one snapshot share its pages: mapped from the file, not copied', async () => {
  const { pvm: original, file, sum } = await built('shared.snap', 16);
  original.kill();
  const spawns = [await ctx.host.spawn({ snapshot: file }), await ctx.host.spawn({ snapshot: file })];
  for (const p of spawns) assert.is((await check(ctx.host, p)).sum, sum); // every page read
  for (const p of spawns) {
    const m = fileMapping(p.pid, file);
    // 16 MiB of pattern read through the file mapping: resident, shared, not copied.
    assert.ok(m.rss >= 15 * 1024, `pid ${p.pid}: ${m.rss} kB of the file resident`);
    assert.ok(m.shared >= 15 * 1024, `pid ${p.pid}: ${m.shared} kB of it shared`);
    assert.ok(m.copied < 1024, `pid ${p.pid}: ${m.copied} kB of it copied`);
  }
  // A write copies only what it writes: the file's pages stay as they were.
  assert.is(await ask(ctx.host, spawns[0]!, 'write 3'), 'wrote');
  const written = fileMapping(spawns[0]!.pid, file);
  assert.ok(written.copied >= 15 * 1024, `${written.copied} kB copied after writing 16 MiB`);
  assert.is((await check(ctx.host, spawns[1]!)).sum, sum);
  for (const p of spawns) p.kill();
  await Promise.all(spawns.map((p) => p.exited));
});

vm('a snapshot taken while the guest computes: spawns finish the computation, from a pooled monitor too', async () => {
  // 24 MiB to fill: the snapshot request interrupts the guest in the middle of it.
  const original = await ctx.host.spawn(guest('snapshot_state'), { memory: '32MiB', args: ['24'] });
  const originalOut = consoleOf(original);
  const file = join(dir, 'computing.snap');
  await original.snapshot(file);
  await originalOut.until('\n');
  const expected = /built sum=\d+ counter=\d+/.exec(originalOut.text())?.[0];
  assert.ok(expected, originalOut.text());
  const pooled = await Host.open({ backend: backend(), spawnPool: 1 });
  try {
    for (const host of [ctx.host, pooled]) {
      const spawned = await host.spawn({ snapshot: file });
      const out = consoleOf(spawned);
      // Cut mid-fill (most likely), it finishes the fill here and prints the same line;
      // either way it answers with the same memory.
      const c = await check(host, spawned);
      assert.is(`built sum=${c.sum} counter=${c.counter}`, expected);
      if (out.text() !== '') assert.ok(out.text().includes(expected!), out.text());
      spawned.kill();
      await spawned.exited;
    }
  } finally {
    await pooled.close();
  }
  original.kill();
  await original.exited;
});

vm('a pVM spawned from a snapshot forks, with and without warm spares, and snapshots in turn', async () => {
  const { pvm: original, file, sum } = await built('forks.snap', 4);
  original.kill();
  for (const forkSpares of [false, true]) {
    const spawned = await ctx.host.spawn({ snapshot: file, forkSpares });
    if (forkSpares && ctx.host.backend === 'kvm') assert.ok(await eventually(() => spawned.sparePid > 0), 'a spare is made');
    const { child, channel } = await spawned.fork();
    channel.close(); // the child goes back to accepting
    assert.is((await check(ctx.host, child)).sum, sum);
    assert.is(await ask(ctx.host, child, 'write 1'), 'wrote');
    assert.is((await check(ctx.host, spawned)).sum, sum);
    // A snapshot of a snapshot's spawn, taken where it waits for a channel (not inside
    // its channel code: the spawns of a snapshot have no channels; README Limits).
    assert.ok(await eventually(() => spawned.activity?.state === 'accept'), 'waiting to accept');
    const again = join(dir, `again-${forkSpares}.snap`);
    await spawned.snapshot(again);
    const third = await ctx.host.spawn({ snapshot: again });
    const c = await check(ctx.host, third);
    assert.is(c.sum, sum);
    assert.is(c.gen, 2, 'one more generation per snapshot spawn');
    for (const p of [child, spawned, third]) p.kill();
    await Promise.all([child, spawned, third].map((p) => p.exited));
  }
});

/** Spawning from `path` fails with EBADSNAPSHOT (`reason`) or `code`, leaving nothing behind. */
async function refused(host: Host, path: string, expect: { code?: string; reason?: SnapshotFaultReason }): Promise<void> {
  const fdsBefore = openFds();
  const monitorsBefore = monitorsUnder();
  try {
    const pvm = await host.spawn({ snapshot: path });
    pvm.kill();
    assert.unreachable(`spawn({ snapshot: ${path} }) should have failed`);
  } catch (err) {
    if (!(err instanceof PvmError)) throw err;
    assert.is(err.code, expect.code ?? 'EBADSNAPSHOT', err.message);
    if (expect.reason) assert.is(err.reason, expect.reason, err.message);
  }
  // (a monitor or fd of a pVM that ended before, or a snapshot writer, may go meanwhile:
  // only new ones count)
  assert.equal(monitorsUnder().filter((pid) => !monitorsBefore.includes(pid)), [], 'no monitor left');
  assert.equal(openFds().filter((fd) => !fdsBefore.includes(fd)), [], 'no fd left');
}

vm('bad files: each a typed error, no monitor or fd left behind', async () => {
  const { pvm, file } = await built('good.snap', 1);
  pvm.kill();
  await pvm.exited;
  const good = readFileSync(file);
  const bad = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  await refused(ctx.host, bad('truncated.snap', good.subarray(0, good.length - 4096)), { reason: 'truncated' });
  await refused(ctx.host, bad('header-only.snap', good.subarray(0, 100)), { reason: 'truncated' });
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1000]! ^= 0x40; // a byte of guest RAM
  await refused(ctx.host, bad('corrupted.snap', flipped), { reason: 'checksum' });
  const header = Buffer.from(good);
  header[200]! ^= 1; // a byte of the header (the image path)
  await refused(ctx.host, bad('corrupted-header.snap', header), { reason: 'checksum' });
  await refused(ctx.host, guest('hello'), { reason: 'magic' });
  await refused(ctx.host, bad('empty.snap', new Uint8Array(0)), { reason: 'magic' });
  const version = Buffer.from(good);
  version.writeUInt32LE(99, VERSION_OFFSET);
  await refused(ctx.host, bad('version.snap', version), { reason: 'version' });
  await refused(ctx.host, join(dir, 'missing.snap'), { code: 'ENOENT' });
  const fifo = join(dir, 'fifo.snap');
  execFileSync('mkfifo', [fifo]);
  await refused(ctx.host, fifo, { reason: 'unreadable' });
  mkdirSync(join(dir, 'dir.snap'));
  await refused(ctx.host, join(dir, 'dir.snap'), { reason: 'unreadable' });
  assert.is(ctx.host.list().length, 0);
});

vm('a snapshot made on another backend is refused with reason backend', async () => {
  const other = backend() === 'kvm' ? 'process' : 'kvm';
  let otherHost: Host;
  try {
    otherHost = await Host.open({ backend: other });
  } catch (err) {
    console.warn(`\n!!! snapshots: backend ${other} cannot run here (${(err as Error).message}): the cross-backend check is SKIPPED !!!\n`);
    return;
  }
  try {
    const { pvm, file } = await built('cross.snap', 1);
    pvm.kill();
    await pvm.exited;
    await refused(otherHost, file, { reason: 'backend' });
  } finally {
    await otherHost.close();
  }
});

vm('options and ends: memory or args with a snapshot, a pVM that has ended, a missing directory', async () => {
  const { pvm, file } = await built('options.snap', 1);
  await rejects(ctx.host.spawn({ snapshot: file, memory: '64MiB' } as never), 'EINVAL');
  await rejects(ctx.host.spawn({ snapshot: file, args: ['x'] } as never), 'EINVAL');
  await rejects(pvm.snapshot(join(dir, 'no', 'such', 'dir.snap')), 'ENOENT');
  await rejects(pvm.snapshot(''), 'EINVAL');
  // One writer per file at a time: a second one into the same file waits its turn.
  const same = join(dir, 'same.snap');
  const first = pvm.snapshot(same);
  await rejects(pvm.snapshot(same), 'EAGAIN');
  await first;
  await pvm.snapshot(same); // and after it, again
  assert.ok(existsSync(same));
  pvm.kill();
  await pvm.exited;
  await rejects(pvm.snapshot(join(dir, 'ended.snap')), 'ESRCH');
  assert.not.ok(existsSync(join(dir, 'ended.snap.tmp')));
});

suite.run();
