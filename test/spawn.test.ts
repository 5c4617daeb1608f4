import * as assert from 'uvu/assert';
import { Host, PvmError } from '../lib/index.js';
import { eventually, guest, monitorsUnder, openFds, outputOf, run, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('spawn');
const ctx = withHost(suite);

vm('hello pVM prints its id and arguments and exits 0', async () => {
  const { pvm, text, status } = await run(ctx.host, 'hello', ['one', 'two words']);
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.ok(text.includes(`hello from pVM ${pvm.id}`), text);
  assert.ok(text.includes('arg[1]=one'), text);
  assert.ok(text.includes('arg[2]=two words'), text);
  assert.ok(pvm.pid > 0);
  assert.is(pvm.running, false);
});

vm('exit codes reach the host', async () => {
  for (const code of [0, 1, 42, 255]) {
    const { status } = await run(ctx.host, 'exitcode', [String(code)]);
    assert.equal(status, { kind: 'exit', code });
  }
});

vm('exit event and exited promise agree', async () => {
  const pvm = await ctx.host.spawn(guest('exitcode'), { args: ['7'], console: 'ignore' });
  const viaEvent = new Promise((resolve) => pvm.once('exit', resolve));
  const [a, b] = await Promise.all([viaEvent, pvm.exited]);
  assert.equal(a, { kind: 'exit', code: 7 });
  assert.equal(b, a);
  assert.equal(pvm.status, a);
});

vm('console output is complete across many ring wraps and comes in blocks', async () => {
  const lines = 20000;
  const pvm = await ctx.host.spawn(guest('console'), { args: [String(lines)], memory: '16MiB' });
  let events = 0;
  pvm.on('console', () => events++);
  const { text, status } = await outputOf(pvm);
  assert.equal(status, { kind: 'exit', code: 0 });
  const got = text.split('\n').filter((l) => l.startsWith('line '));
  assert.is(got.length, lines);
  for (let i = 0; i < lines; i += 997) assert.ok(got[i]!.startsWith(`line ${i} `), got[i]);
  // Flushed in blocks, not per line: far fewer console messages than lines.
  assert.ok(events < lines / 20, `${events} console events for ${lines} lines`);
});

vm('ids are unique and the guest sees its own id and monotonic time', async () => {
  const a = await run(ctx.host, 'time');
  const b = await run(ctx.host, 'time');
  assert.is.not(a.pvm.id, b.pvm.id);
  for (const r of [a, b]) {
    assert.equal(r.status, { kind: 'exit', code: 0 });
    assert.ok(r.text.includes('monotonic ok'), r.text);
    assert.ok(r.text.includes(`id=${r.pvm.id}`), r.text);
  }
});

vm('guest heap and libc subset work', async () => {
  for (const name of ['heap', 'libc']) {
    const { text, status } = await run(ctx.host, name, [], '64MiB');
    assert.equal(status, { kind: 'exit', code: 0 }, text);
    assert.ok(text.includes(`${name} ok`), text);
  }
});

vm('guest RAM size is configurable: a 64 MiB .bss image runs in 128 MiB', async () => {
  const { status, text } = await run(ctx.host, 'big', [], '128MiB');
  assert.equal(status, { kind: 'exit', code: 0 }, text);
});

vm('kill() ends a running pVM and reports the signal', async () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const pvm = await ctx.host.spawn(guest('loop'), { args: ['100000000000'], console: 'ignore' });
    assert.ok(pvm.running);
    assert.ok(signal === 'SIGTERM' ? pvm.kill() : pvm.kill(signal));
    assert.equal(await pvm.exited, { kind: 'killed', signal });
    assert.is(pvm.kill(), false);
    assert.ok(await eventually(() => !monitorsUnder().includes(pvm.pid)));
  }
});

vm('timings are ordered', async () => {
  const { pvm } = await run(ctx.host, 'hello');
  const t = pvm.timings;
  assert.ok(t.spawnNs < t.monitorStartNs, 'spawn before monitor start');
  assert.ok(t.monitorStartNs <= t.vmReadyNs, 'monitor start before VM ready');
  assert.ok(t.firstExitNs !== undefined && t.vmReadyNs < t.firstExitNs, 'ready before first exit');
  assert.ok(t.exitNs !== undefined && t.firstExitNs <= t.exitNs, 'first exit before exit');
});

vm('host.close() ends every pVM and leaves no monitor and no fd behind', async () => {
  const before = openFds();
  const host = await Host.open();
  const pvms = await Promise.all(
    [0, 1, 2, 3].map(() => host.spawn(guest('loop'), { args: ['100000000000'], console: 'ignore', memory: '16MiB' })),
  );
  assert.is(host.list().length, 4);
  assert.is(monitorsUnder().filter((p) => pvms.some((v) => v.pid === p)).length, 4);
  await host.close();
  for (const pvm of pvms) assert.equal(pvm.status, { kind: 'killed', signal: 'SIGKILL' });
  assert.is(host.list().length, 0);
  assert.equal(monitorsUnder().filter((p) => pvms.some((v) => v.pid === p)), []);
  // None opened since (fds of earlier tests may close meanwhile).
  assert.equal(openFds().filter((fd) => !before.includes(fd)), []);
  try {
    await host.spawn(guest('hello'));
    assert.unreachable('spawn after close');
  } catch (err) {
    assert.instance(err, PvmError);
    assert.is((err as PvmError).code, 'ECLOSED');
  }
});

vm('many spawn/exit cycles leak no fds', async () => {
  await run(ctx.host, 'hello'); // warm up lazy handles
  const before = openFds();
  for (let i = 0; i < 30; i++) await run(ctx.host, 'exitcode', ['3']);
  // A pVM's exit is reported once the guest ended; its monitor (and pidfd) goes a moment
  // later: fds may close meanwhile, none may stay open that was not there before.
  const leaked = () => openFds().filter((fd) => !before.includes(fd));
  assert.ok(await eventually(() => leaked().length === 0), String(leaked()));
});

suite.run();
