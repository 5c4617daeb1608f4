// Opening an image never blocks: FIFOs, devices, sockets and directories named as images
// get a typed error at once, through spawn, exec, the CLI and a guest's EXEC; and a host
// closed with spawns and forks in flight rejects them all with ECLOSED.
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host, PvmError, type Pvm } from '../lib/index.js';
import { packageRoot } from '../lib/paths.js';
import { IMAGE_OPEN_TIMEOUT_MS } from '../lib/image.js';
import { constants as osConstants } from 'node:os';
import { consoleOf, guest, monitorsUnder, openFds, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('image open');
const ctx = withHost(suite);
let socketServer: Server | undefined;

// The special files, made for each backend's half: a FIFO nobody writes, a listening unix socket.
let dir = '';
let fifo = '';
let socketPath = '';
suite.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pvm-open-'));
  fifo = join(dir, 'fifo.pvm');
  socketPath = join(dir, 'socket.pvm');
  execFileSync('mkfifo', [fifo]);
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer!.listen(socketPath, resolve));
});
suite.after(async () => {
  await new Promise<void>((resolve) => (socketServer ? socketServer.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** The paths that are not images, and the error each must give. */
const NOT_IMAGES: Array<{ what: string; path: () => string; code: string }> = [
  { what: 'a FIFO', path: () => fifo, code: 'EBADIMAGE' },
  { what: 'a character device', path: () => '/dev/zero', code: 'EBADIMAGE' },
  { what: 'a unix socket', path: () => socketPath, code: 'EBADIMAGE' },
  { what: 'a directory', path: () => dir, code: 'EBADIMAGE' },
];

/**
 * Runs `fn`, which must reject with `code` without the event loop stalling: a timer set
 * to fire every 20 ms keeps firing while it runs (an open blocked in this thread would
 * stop it, and the test would hang on the FIFO).
 */
async function rejectsWithoutStall(fn: () => Promise<unknown>, code: string, what: string): Promise<PvmError> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof PvmError)) throw err;
    assert.is(err.code, code, `${what}: ${err.message}`);
    return err;
  } finally {
    clearInterval(timer);
  }
  assert.unreachable(`${what}: should have failed with ${code} (ticks ${ticks})`);
  throw new Error('unreachable');
}

for (const { what, path, code } of NOT_IMAGES) {
  vm(`spawn of ${what}: ${code}, nothing left behind`, async () => {
    const fds = openFds();
    const err = await rejectsWithoutStall(() => ctx.host.spawn(path()), code, what);
    assert.match(err.message, /not a regular file|cannot open/);
    assert.is(ctx.host.list().length, 0);
    assert.equal(monitorsUnder(), []);
    assert.equal(openFds(), fds);
  });

  vm(`exec of ${what}: ${code}, the old image runs on`, async () => {
    const pvm = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
    await rejectsWithoutStall(() => pvm.exec(path()), code, what);
    assert.ok(pvm.running, 'the pVM still runs');
    pvm.kill('SIGKILL');
    assert.equal(await pvm.exited, { kind: 'killed', signal: 'SIGKILL' });
  });
}


vm('an image on a filesystem that hangs: EBADIMAGE after the open timeout, the event loop runs on', async () => {
  // Opens that could hang (not a local filesystem, or through a symlink: it may lead to
  // one) run on the addon's opener thread; PVM_TEST_OPEN_DELAY_MS makes it sleep before
  // open(2), as a hung NFS server would.
  const link = join(dir, 'linked-hello.pvm');
  symlinkSync(guest('hello'), link);
  process.env.PVM_TEST_OPEN_DELAY_MS = String(IMAGE_OPEN_TIMEOUT_MS + 2000);
  let err: PvmError;
  const fds = openFds();
  try {
    err = await rejectsWithoutStall(() => ctx.host.spawn(link), 'EBADIMAGE', 'a hung open');
  } finally {
    delete process.env.PVM_TEST_OPEN_DELAY_MS;
  }
  assert.match(err.message, /took over 5 s/);
  assert.is(err.errno, osConstants.errno.ETIMEDOUT);
  assert.is(ctx.host.list().length, 0);
  // The open finishes later in the background: its fd is closed then, nothing leaks.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(openFds(), fds);
  // The same path opens once the filesystem answers.
  const pvm = await ctx.host.spawn(link, { args: ['linked'] });
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
}, { timeoutMs: 30_000 });

vm('pvm run of a FIFO: a typed error at once, exit status 1', () => {
  const r = spawnSync(process.execPath, [join(packageRoot, 'bin', 'pvm.js'), 'run', fifo], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.error, undefined, 'the CLI returned');
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /EBADIMAGE/);
});

vm("a guest's EXEC of a name that is a FIFO or a socket: ENOEXEC, the guest runs on", async () => {
  // Image directory of this host: the blocker guest, plus special files under image names.
  const images = mkdtempSync(join(tmpdir(), 'pvm-open-images-'));
  copyFileSync(guest('blocker'), join(images, 'blocker.pvm'));
  execFileSync('mkfifo', [join(images, 'pipe_image')]);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(images, 'socket_image'), resolve));
  const host = await Host.open({ imagePath: [images] });
  try {
    for (const name of ['pipe_image', 'socket_image']) {
      const pvm = await host.spawn(join(images, 'blocker.pvm'), { args: ['orders'], memory: '16MiB' });
      const out = consoleOf(pvm);
      const channel = await host.channel(pvm);
      assert.ok(channel.trySend(`exec ${name}`));
      assert.equal(await pvm.exited, { kind: 'exit', code: 0 }, name);
      assert.is(out.text(), 'exec: ENOEXEC\n', name);
      channel.close();
    }
  } finally {
    await host.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(images, { recursive: true, force: true });
  }
});

vm('host.close() with spawns and forks in flight: each rejects with ECLOSED, nothing left', async () => {
  const fds = openFds();
  const host = await Host.open();
  const parents: Pvm[] = [];
  for (let i = 0; i < 2; i++) parents.push(await host.spawn(guest('idle'), { memory: '16MiB' }));
  const inFlight: Array<Promise<unknown>> = [];
  for (let i = 0; i < 4; i++) inFlight.push(host.spawn(guest('idle'), { memory: '16MiB' }));
  for (const p of parents) inFlight.push(p.fork(), p.fork());
  const closed = host.close();
  const outcomes = await Promise.allSettled(inFlight);
  await closed;
  for (const [i, o] of outcomes.entries()) {
    if (o.status === 'fulfilled') continue; // done before close() began: ended by it
    assert.instance(o.reason, PvmError, `#${i}: ${o.reason}`);
    assert.is((o.reason as PvmError).code, 'ECLOSED', `#${i}: ${(o.reason as PvmError).message}`);
  }
  assert.ok(
    outcomes.some((o) => o.status === 'rejected'),
    'at least one was still in flight when close() began',
  );
  assert.equal(monitorsUnder(), []);
  assert.equal(openFds(), fds);
});

vm('spawn and fork after host.close(): ECLOSED', async () => {
  const host = await Host.open();
  const pvm = await host.spawn(guest('idle'), { memory: '16MiB' });
  await host.close();
  await rejectsWithoutStall(() => host.spawn(guest('idle')), 'ECLOSED', 'spawn after close');
  await rejectsWithoutStall(() => pvm.fork(), 'ECLOSED', 'fork after close');
});

suite.run();
