// The examples (examples/*.ts) run for real: their exported functions, and each one as
// the single command a user types (node --import tsx examples/<file>.ts ...).
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AUTO_ORDER, Host, PvmError } from '../lib/index.js';
import { packageRoot } from '../lib/paths.js';
import { fetchText, startForkServer } from '../examples/fork-server.js';
import { KvStore, readSnapshot, runDemo } from '../examples/snapshot-store.js';
import { expectedOutcome, runPipeline } from '../examples/pipeline.js';
import { startJsServer } from '../examples/js-per-request/server.js';
// @ts-expect-error: a plain .mjs script without types
import { buildQuickJs } from '../scripts/linux-programs/quickjs.mjs';
import { eventually, monitorsUnder, openFds, vmSuite } from './_helpers.js';

const { suite, vm } = vmSuite('examples');
let dir = ''; // one for each backend's half
let fdsBefore: string[] = [];
suite.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvm-examples-'));
  fdsBefore = openFds();
});
suite.after(() => rmSync(dir, { recursive: true, force: true }));

const run = promisify(execFile);
/** Runs an example the way its npm script does; resolves with its output (rejects on a non-zero exit). */
function runExample(file: string, args: string[] = []) {
  return run(process.execPath, ['--import', 'tsx', join(packageRoot, 'examples', file), ...args], {
    cwd: packageRoot,
    timeout: 120_000,
    encoding: 'utf8',
  });
}

/** Nothing of an example is left: no monitor under this process, no fd it opened. */
async function nothingLeft(): Promise<void> {
  assert.ok(await eventually(() => monitorsUnder().length === 0, 5000), `monitors left: ${monitorsUnder()}`);
  const leaked = () => openFds().filter((fd) => !fdsBefore.includes(fd));
  assert.ok(await eventually(() => leaked().length === 0, 5000), `fds left: ${leaked()}`);
}

// ---- fork-server ------------------------------------------------------------------------

vm('fork-server: each request is answered by its own fork of the warm template', async () => {
  const server = await startForkServer({ timeoutMs: 1000 });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(server.initMs >= 0 && server.template.running);

    const pi = await fetchText(`${server.url}/pi?n=1000000`, { agent });
    assert.is(pi.status, 200, pi.text);
    assert.is(pi.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(pi.text), { n: 1_000_000, pi: 78498 });
    assert.match(String(pi.headers['x-pvm-id']), /^\d+$/);

    const factor = await fetchText(`${server.url}/factor`, { method: 'POST', body: '600851475143', agent });
    assert.equal(JSON.parse(factor.text), { n: 600851475143, factors: [71, 839, 1471, 6857] });
    const primes = await fetchText(`${server.url}/primes?from=9999900&count=3`, { agent });
    assert.equal(JSON.parse(primes.text), { from: 9999900, primes: [9999901, 9999907, 9999929] });
    assert.equal(JSON.parse((await fetchText(`${server.url}/isprime?n=9999991`, { agent })).text), { n: 9999991, prime: true });

    // 24 at once: 24 pVMs, each a fresh copy (served=1: the template's counter is never touched).
    const who = await Promise.all(Array.from({ length: 24 }, () => fetchText(`${server.url}/whoami`, { agent })));
    const ids = new Set<number>();
    for (const r of who) {
      assert.is(r.status, 200, r.text);
      const v = JSON.parse(r.text) as { template: number; pvm: number; served: number };
      assert.is(v.template, server.template.id);
      assert.is(v.served, 1);
      assert.is(String(v.pvm), r.headers['x-pvm-id']);
      ids.add(v.pvm);
    }
    assert.is(ids.size, 24);

    // Errors: the guest's (400, 404, 405) and the server's (413).
    assert.is((await fetchText(`${server.url}/isprime?n=abc`, { agent })).status, 400);
    assert.is((await fetchText(`${server.url}/pi?n=10000001`, { agent })).status, 400);
    assert.is((await fetchText(`${server.url}/nope`, { agent })).status, 404);
    assert.is((await fetchText(`${server.url}/pi?n=5`, { method: 'POST', agent })).status, 405);
    assert.is((await fetchText(`${server.url}/factor`, { method: 'POST', body: 'x'.repeat(20_000), agent })).status, 413);

    // A request that crashes its pVM, and one that hangs it: only that pVM ends.
    const crash = await fetchText(`${server.url}/crash`, { agent });
    assert.is(crash.status, 502);
    assert.match(JSON.parse(crash.text).error, /page fault.*null pointer/);
    const t0 = Date.now();
    const hang = await fetchText(`${server.url}/hang`, { agent });
    assert.is(hang.status, 504);
    assert.ok(Date.now() - t0 < 5000, `the hung request took ${Date.now() - t0} ms`);
    assert.ok(server.template.running);
    assert.is(JSON.parse((await fetchText(`${server.url}/pi?n=100`, { agent })).text).pi, 25);
    assert.is(server.stats.failed, 2);
    assert.ok(server.stats.forks >= 35, String(server.stats.forks));
  } finally {
    agent.destroy();
    await server.close();
  }
  assert.is(server.template.running, false);
  await server.close(); // idempotent
  await nothingLeft();
});

vm('fork-server, resetPerRequest: a pool of copies reset after each request; no request sees an earlier one\'s writes', async () => {
  const server = await startForkServer({ timeoutMs: 1000, resetPerRequest: true, poolSize: 3 });
  const agent = new Agent({ keepAlive: true, maxSockets: 6 });
  try {
    // 60 requests, 6 at a time, on 3 copies: each copy serves many, and each request
    // finds its copy as at the fork point (nothing remembered, served = 1).
    const ids = new Set<string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (next < 60) {
          const i = next++;
          const r = await fetchText(`${server.url}/remember?v=${i + 1}`, { agent });
          assert.is(r.status, 200, r.text);
          assert.equal(JSON.parse(r.text), { v: i + 1, before: 0 });
          const who = await fetchText(`${server.url}/whoami`, { agent });
          assert.is(JSON.parse(who.text).served, 1, who.text);
          ids.add(String(r.headers['x-pvm-id']));
        }
      }),
    );
    assert.ok(ids.size <= 3, `${ids.size} pVMs served`);
    assert.ok(server.stats.forks === 3, `forks ${server.stats.forks}`);
    // A crashed and a hung copy are replaced by fresh forks; the server goes on.
    assert.is((await fetchText(`${server.url}/crash`, { agent })).status, 502);
    assert.is((await fetchText(`${server.url}/hang`, { agent })).status, 504);
    // 6 at once need the pool's 3 copies again: the 2 that ended are forked anew.
    const again = await Promise.all(Array.from({ length: 6 }, () => fetchText(`${server.url}/remember?v=7`, { agent })));
    for (const r of again) assert.equal(JSON.parse(r.text), { v: 7, before: 0 });
    assert.is(server.stats.forks, 5);
    assert.is(server.stats.failed, 2);
  } finally {
    agent.destroy();
    await server.close();
  }
  await nothingLeft();
});

vm('fork-server: on a Host of the caller, which stays open; port in use is an error', async () => {
  const host = await Host.open();
  try {
    const a = await startForkServer({ host, limit: 1000, memory: '16MiB' });
    const pi = await fetchText(`${a.url}/pi?n=1000`);
    assert.equal(JSON.parse(pi.text), { n: 1000, pi: 168 });
    const port = Number(new URL(a.url).port);
    try {
      await startForkServer({ host, port, limit: 1000, memory: '16MiB' });
      assert.unreachable('a second server on the same port');
    } catch (err) {
      assert.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
    }
    try {
      await startForkServer({ host, maxInFlight: 500 });
      assert.unreachable('maxInFlight 500');
    } catch (err) {
      assert.instance(err, PvmError);
      assert.is((err as PvmError).code, 'EINVAL');
    }
    await a.close();
    assert.is(host.closed, false);
    assert.is(host.list().length, 0); // the template and its copies, and the failed server's template
  } finally {
    await host.close();
  }
  await nothingLeft();
});

vm('fork-server: one command (--requests) starts it, checks it and stops', async () => {
  const { stdout } = await runExample('fork-server.ts', ['--requests', '20']);
  assert.match(stdout, /fork-per-request server on http:\/\/127\.0\.0\.1:\d+/);
  assert.match(stdout, /20 requests checked, answered by 20 pVMs/);
  assert.match(stdout, /GET \/crash: 502, the server went on/);
  assert.match(stdout, /closed/);
  await nothingLeft();
});

// ---- snapshot-store ------------------------------------------------------------------------

vm('snapshot-store: the snapshot is the state at the fork while changes go on', async () => {
  const file = join(dir, 'demo.snapshot');
  const log: string[] = [];
  const r = await runDemo({ keys: 20_000, puts: 3000, file, log: (l) => log.push(l) });
  assert.ok(r.snapshotMatchesForkPoint, JSON.stringify(r));
  assert.ok(r.storeHasLaterPuts, JSON.stringify(r));
  assert.is(r.snapshotVersion, 20_000);
  assert.is(r.snapshotKeys, 20_000);
  // The store did not wait for its child: it answered while the snapshot was written.
  assert.ok(r.putsDuringSnapshot > 0, JSON.stringify(r));
  assert.is(readSnapshot(file).entries.size, 20_000);
  assert.equal(readdirSync(dir), ['demo.snapshot']); // no .tmp left
  assert.ok(log.some((l) => /kvstore: \d+ keys/.test(l)), log.join('\n'));
  await nothingLeft();
});

vm('snapshot-store: the KvStore API, binary values, several snapshots, typed errors', async () => {
  const host = await Host.open();
  try {
    const store = await KvStore.open({ host, memory: '32MiB', log: () => {} });
    const empty = await store.snapshot(join(dir, 'empty.snapshot'));
    assert.is(empty.version, 0);
    assert.is((await empty.written).keys, 0);
    const binary = Buffer.from([0, 1, 2, 255, 10, 32, 0]);
    assert.is(await store.put('bin', binary), 1);
    assert.ok((await store.get('bin'))!.equals(binary));
    assert.is(await store.get('missing'), undefined);
    await store.put('a', 'one');
    const s1 = await store.snapshot(join(dir, 's1.snapshot'));
    await store.put('a', 'two');
    const s2 = await store.snapshot(join(dir, 's2.snapshot'));
    assert.is(await store.delete('a'), true);
    assert.is(await store.delete('a'), false);
    const [w1, w2] = await Promise.all([s1.written, s2.written]);
    assert.is(String(readSnapshot(w1.file).entries.get('a')), 'one');
    assert.is(String(readSnapshot(w2.file).entries.get('a')), 'two');
    assert.ok(readSnapshot(w2.file).entries.get('bin')!.equals(binary));
    assert.equal(await store.count(), { keys: 1, bytes: 3 + binary.length, version: 4 });
    for (const bad of ['', 'has space', 'k'.repeat(256)]) {
      try {
        await store.put(bad, 'x');
        assert.unreachable(`key ${JSON.stringify(bad)}`);
      } catch (err) {
        assert.instance(err, PvmError);
        assert.is((err as PvmError).code, 'EINVAL');
      }
    }
    assert.ok(s1.writer.parent === store.pvm && s2.writer.parent === store.pvm);
    await store.close();
    assert.equal(store.pvm.status, { kind: 'exit', code: 0 });
    try {
      await store.get('bin');
      assert.unreachable('get after close');
    } catch (err) {
      assert.is((err as PvmError).code, 'ECLOSED');
    }
  } finally {
    await host.close();
  }
  await nothingLeft();
});

vm('snapshot-store: one command', async () => {
  const { stdout } = await runExample('snapshot-store.ts', ['--keys', '5000', '--puts', '1000']);
  assert.match(stdout, /snapshot at version 5000: 5000 keys/);
  assert.match(stdout, /snapshot = state at the fork point: true; store = state after every change: true/);
  await nothingLeft();
});

// ---- pipeline -----------------------------------------------------------------------------

vm('pipeline: source -> prime -> square -> digitsum -> sink, every item through 5 pVMs', async () => {
  const r = await runPipeline({ count: 50_000, stages: ['prime', 'square', 'digitsum'] });
  assert.equal(r.got, r.expected);
  assert.is(r.got.count, 5133n); // primes up to 50,000
  assert.equal(r.pvms.map((p) => p.stage), ['source', 'prime', 'square', 'digitsum', 'sink']);
  // A chain of descendants, built by the guests' own forks.
  r.pvms.forEach((p, i) => assert.is(p.parent, i === 0 ? null : r.pvms[i - 1]!.id));
  for (const p of r.pvms) assert.equal(p.status, { kind: 'exit', code: 0 }, p.stage);
  assert.is(r.messages, 50_000 + 3 * 5133);
  assert.is(r.lines.filter((l) => /^stage \d/.test(l)).length, 5);
  await nothingLeft();
});

vm('pipeline: on a caller Host, no transform stage, and bad stages are EINVAL', async () => {
  const host = await Host.open();
  try {
    const r = await runPipeline({ count: 1000, stages: [], host });
    assert.equal(r.got, { count: 1000n, sum: 500500n, hash: expectedOutcome(1000, []).hash });
    assert.is(r.pvms.length, 2);
    const many = await runPipeline({ count: 300, stages: ['square', 'square', 'square', 'digitsum', 'square'], host });
    assert.equal(many.got, many.expected);
    assert.is(many.pvms.length, 7);
    try {
      await runPipeline({ count: 10, stages: ['sort' as never], host });
      assert.unreachable('unknown stage');
    } catch (err) {
      assert.is((err as PvmError).code, 'EINVAL');
    }
    assert.is(host.list().length, 0);
  } finally {
    await host.close();
  }
  await nothingLeft();
});

vm('pipeline: one command', async () => {
  const { stdout } = await runExample('pipeline.ts', ['--count', '20000']);
  assert.match(stdout, /chain: source \(pVM \d+\) -> prime \(pVM \d+\) -> square .* -> sink \(pVM \d+\) -> host/);
  assert.match(stdout, /JavaScript says the same: true/);
  await nothingLeft();
});

// ---- js-per-request ------------------------------------------------------------------------

// QuickJS is a static Linux program: built from its sources by the build (npm run
// build:quickjs), run on kvm and process (README "Running Linux programs").
const qjs: string | { skip: string } = await (buildQuickJs() as Promise<string>).catch((err: Error) => ({
  skip: `QuickJS cannot be built here (${err.message.split('\n')[0]})`,
}));
const jsTest = (title: string, fn: () => Promise<void>) => {
  const why = typeof qjs === 'string' ? 'QuickJS is a static Linux program: it needs the kvm or process backend' : qjs.skip;
  if (typeof qjs === 'string') vm(title, fn, { backends: ['kvm', 'process'] });
  console.warn(`(examples: ${why}: "${title}" is SKIPPED${typeof qjs === 'string' ? ' on the other backends' : ''})`);
  vm.skip(`${title} [${why}]`, typeof qjs === 'string' ? { backends: AUTO_ORDER.filter((b) => b !== 'kvm' && b !== 'process') } : undefined);
};

jsTest('js-per-request: each request runs the handler in a fresh fork of the QuickJS template; nothing leaks', async () => {
  const server = await startJsServer({ timeoutMs: 1500, qjs: qjs as string });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const fib = await fetchText(`${server.url}/fib?n=20`, { agent });
    assert.is(fib.status, 200, fib.text);
    assert.is(fib.headers['content-type'], 'application/json');
    assert.equal(JSON.parse(fib.text), { n: 20, fib: 6765 });

    // Untrusted code sets a global and changes the handler's state; the next request sees neither.
    const ev = await fetchText(`${server.url}/eval`, { method: 'POST', body: 'globalThis.leaked = "secret"; handle = null; [1, 2, 3].map((x) => x * x)', agent });
    assert.equal(JSON.parse(ev.text), { result: [1, 4, 9] });
    const ids = new Set<string>([String(fib.headers['x-pvm-id']), String(ev.headers['x-pvm-id'])]);
    const who = await Promise.all(Array.from({ length: 8 }, () => fetchText(`${server.url}/whoami`, { agent })));
    for (const r of who) {
      assert.is(r.status, 200, r.text);
      assert.equal(JSON.parse(r.text), { served: 1, engine: 'quickjs', leaked: 'undefined' });
      ids.add(String(r.headers['x-pvm-id']));
    }
    assert.is(ids.size, 10); // a pVM per request

    // The request as the handler got it.
    const echo = await fetchText(`${server.url}/echo?x=1`, { method: 'POST', body: 'héllo', agent });
    assert.equal(JSON.parse(echo.text), { method: 'POST', url: '/echo?x=1', type: null, body: 'héllo' });
    assert.is((await fetchText(`${server.url}/nope`, { agent })).status, 404);
    // A handler that throws: 500 from the runtime; one that never ends: killed, 504.
    const thrown = await fetchText(`${server.url}/eval`, { method: 'POST', body: 'throw new TypeError("nope")', agent });
    assert.is(thrown.status, 500);
    assert.match(thrown.text, /TypeError: nope/);
    const hang = await fetchText(`${server.url}/eval`, { method: 'POST', body: 'for (;;) {}', agent });
    assert.is(hang.status, 504);
    // One that ends its VM without a response: 502. The template goes on.
    const gone = await fetchText(`${server.url}/eval`, { method: 'POST', body: 'std.exit(3)', agent });
    assert.is(gone.status, 502);
    assert.match(JSON.parse(gone.text).error, /exit.*3/);
    assert.ok(server.template.running);
    assert.equal(JSON.parse((await fetchText(`${server.url}/whoami`, { agent })).text).served, 1);
    assert.is(server.stats.failed, 2);
  } finally {
    agent.destroy();
    await server.close();
  }
  assert.is(server.template.running, false);
  await nothingLeft();
});

jsTest('js-per-request: one command (--requests) starts it, checks it and stops', async () => {
  const { stdout } = await runExample('js-per-request/server.ts', ['--requests', '12']);
  assert.match(stdout, /js-per-request server on http:\/\/127\.0\.0\.1:\d+/);
  assert.match(stdout, /12 requests checked, answered by 12 pVMs/);
  assert.match(stdout, /served 12 requests with 12 forks; closed/);
  await nothingLeft();
});

suite.run();
