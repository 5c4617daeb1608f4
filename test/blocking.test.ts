// Every blocking call ends when its counterpart does (README "What ends a wait"): a peer
// that exits, crashes, is SIGTERMed or SIGKILLed ends a channel wait with end-of-stream /
// EPIPE and a waitpid with the child's status; the host closing ends every wait; and a
// pVM blocked anywhere is killed promptly. The guest is test/guests/blocker.c: it blocks
// in one call, then prints exactly what the call returned. Each test first sees the call
// sleep (Pvm.activity) and only then ends the counterpart; every wait that must end is
// bounded, so a regression fails here with a message instead of hanging the run.
import * as assert from 'uvu/assert';
import { Host, PvmError, type Channel, type ExitStatus, type Pvm } from '../lib/index.js';
import type { PvmActivityState } from '../lib/activity.js';
import { consoleOf, eventually, guest, monitorsUnder, openFds, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('blocking');
const ctx = withHost(suite);

/** How long anything that must end may take before the test fails. */
const BOUND_MS = 5000;

/** `promise`, or a failure naming `what` once BOUND_MS has passed. */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${BOUND_MS} ms`)), BOUND_MS);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** How `pvm` ended, within the bound. */
function endOf(pvm: Pvm, role: string): Promise<ExitStatus> {
  return within(pvm.exited, `the ${role} (pVM ${pvm.id}) to end`);
}

/** Waits until `pvm` sleeps in `state` (a blocked call, as its monitor records it). */
async function blockedIn(pvm: Pvm, state: PvmActivityState, role: string): Promise<void> {
  const seen = await eventually(() => pvm.activity?.state === state, BOUND_MS);
  assert.ok(seen, `the ${role} (pVM ${pvm.id}) is not blocked in ${state}: ${pvm.activity?.text ?? 'not running'}`);
}

/** The first `count` children the guest `parent` forked. */
async function childrenOf(parent: Pvm, count: number): Promise<Pvm[]> {
  const all = await eventually(() => parent.children.size >= count, BOUND_MS);
  assert.ok(all, `pVM ${parent.id} forked ${parent.children.size} children, expected ${count}`);
  return [...parent.children].sort((a, b) => a.id - b.id).slice(0, count);
}

/**
 * Holds this thread until `check()`: no monitor event is handled meanwhile, so the host
 * cannot answer a guest's EXEC (it answers from an event) while a test looks or acts.
 */
function holdUntil(check: () => boolean, what: string): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const end = Date.now() + BOUND_MS;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not after ${BOUND_MS} ms`);
    Atomics.wait(cell, 0, 0, 1);
  }
}

/** Holds this thread (see holdUntil) until `pvm` waits in EXEC for the host's image. */
function holdInExec(pvm: Pvm): void {
  holdUntil(() => pvm.activity?.state === 'exec', `pVM ${pvm.id} waiting for its exec image`);
}

/** True when `promise` has not settled after everything ready to run has run. */
async function stillPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((r) => setImmediate(r));
  return !settled;
}

// What a test leaves running (a counterpart that stays, children that run on, a test that
// failed half way) goes before the next test, which may count monitors and fds.
suite.after.each(async () => {
  const left = ctx.host?.list() ?? [];
  for (const p of left) p.kill('SIGKILL');
  await within(Promise.all(left.map((p) => p.exited)), 'the clean-up kills');
});

/** A blocker in `orders` mode takes one order from the host; this gives it one. */
async function giveOrder(host: Host, pvm: Pvm, order: string): Promise<void> {
  const channel = await within(host.channel(pvm), `a channel to pVM ${pvm.id}`);
  await within(channel.send(order), `sending '${order}'`);
  channel.close(); // the guest reads the order first, then end-of-stream it never asks for
}

/** How a counterpart ends; `order` gives the order in the way the scenario needs. */
const ENDINGS = ['exits', 'crashes', 'is SIGTERMed', 'is SIGKILLed'] as const;
type Ending = (typeof ENDINGS)[number];

async function end(pvm: Pvm, how: Ending, order: (text: string) => Promise<void>): Promise<void> {
  if (how === 'exits') await order('exit 7');
  else if (how === 'crashes') await order('crash');
  else assert.ok(pvm.kill(how === 'is SIGTERMed' ? 'SIGTERM' : 'SIGKILL'), `pVM ${pvm.id} had ended already`);
}

/** Asserts the status a counterpart ended `how` must have. */
function assertEndedAs(status: ExitStatus, how: Ending, role: string): void {
  const show = JSON.stringify(status, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
  if (how === 'exits') assert.equal(status, { kind: 'exit', code: 7 }, `${role}: ${show}`);
  if (how === 'is SIGTERMed') assert.equal(status, { kind: 'killed', signal: 'SIGTERM' }, `${role}: ${show}`);
  if (how === 'is SIGKILLed') assert.equal(status, { kind: 'killed', signal: 'SIGKILL' }, `${role}: ${show}`);
  if (how === 'crashes') {
    assert.ok(status.kind === 'fault' && status.fault.mnemonic === '#PF' && status.fault.address === 0n, `${role}: ${show}`);
  }
}

// ---- guest calls whose counterpart is another pVM of the family ----------------------

/** A blocker mode in which one pVM sleeps in a call until another pVM of its family ends. */
interface FamilyCall {
  /** The call, as test titles say it. */
  name: string;
  mode: string;
  /** Children the parent forks. */
  children: number;
  /** Which pVM blocks, and in what (its activity). */
  blocked: 'parent' | 'child';
  state: PvmActivityState;
  /** What the blocked pVM prints once its counterpart ended `how` (`id`: the counterpart's). */
  prints(how: Ending, id: number): string;
}

const WAITPID_STATUS: Record<Ending, string> = {
  exits: 'exit 7',
  crashes: 'fault 0',
  'is SIGTERMed': 'killed 15',
  'is SIGKILLed': 'killed 9',
};

const FAMILY_CALLS: FamilyCall[] = [
  { name: 'channel receive from its child', mode: 'recv-child', children: 1, blocked: 'parent', state: 'wait', prints: () => 'recv: EPIPE' },
  { name: 'channel receive from its parent', mode: 'recv-parent', children: 1, blocked: 'child', state: 'wait', prints: () => 'recv: EPIPE' },
  { name: 'channel send on a full ring nobody reads', mode: 'send-child', children: 1, blocked: 'parent', state: 'wait', prints: () => 'send: EPIPE' },
  { name: 'pvm_waitpid for its child', mode: 'waitpid-child', children: 1, blocked: 'parent', state: 'waitpid', prints: (how, id) => `waitpid: ${id} ${WAITPID_STATUS[how]}` },
  { name: 'pvm_waitpid for any child', mode: 'waitpid-any', children: 1, blocked: 'parent', state: 'waitpid', prints: (how, id) => `waitpid: ${id} ${WAITPID_STATUS[how]}` },
  { name: 'pvm_wait on two channels', mode: 'wait', children: 2, blocked: 'parent', state: 'wait', prints: (_, id) => `wait: woke, ended ${id}` },
];

/** A FamilyCall running: the blocked pVM sleeps in its call, the counterpart waits for orders. */
interface FamilyRun {
  parent: Pvm;
  children: Pvm[];
  blocked: Pvm;
  blockedConsole: ReturnType<typeof consoleOf>;
  /** The pVM whose end ends the call (the last child for pvm_wait: the other stays). */
  counterpart: Pvm;
  everyone: Pvm[];
}

async function startFamily(host: Host, call: FamilyCall): Promise<FamilyRun> {
  const parent = await host.spawn(guest('blocker'), { args: [call.mode], memory: '16MiB' });
  const parentConsole = consoleOf(parent);
  const children = await childrenOf(parent, call.children);
  const blocked = call.blocked === 'parent' ? parent : children[0]!;
  const counterpart = call.blocked === 'parent' ? children.at(-1)! : parent;
  const blockedConsole = call.blocked === 'parent' ? parentConsole : consoleOf(blocked);
  await blockedIn(blocked, call.state, `pVM blocked in ${call.name}`);
  // The counterparts wait for the host's orders (pvm_channel_accept): settled, not racing.
  for (const p of [parent, ...children]) if (p !== blocked) await blockedIn(p, 'accept', 'counterpart');
  return { parent, children, blocked, blockedConsole, counterpart, everyone: [parent, ...children] };
}

for (const call of FAMILY_CALLS) {
  for (const how of ENDINGS) {
    const parentKilled = call.blocked === 'child' && how === 'is SIGKILLed';
    const title = parentKilled
      ? `${call.name}: the parent is SIGKILLed: the child dies with its monitor, killed by SIGKILL`
      : `${call.name}: the ${call.blocked === 'parent' ? 'child' : 'parent'} ${how}: it prints '${call.prints(how, 0).replace(' 0', ' <id>')}'`;
    vm(title, async () => {
      const run = await startFamily(ctx.host, call);
      await end(run.counterpart, how, (order) => giveOrder(ctx.host, run.counterpart, order));
      assertEndedAs(await endOf(run.counterpart, 'counterpart'), how, 'the counterpart');
      const status = await endOf(run.blocked, `pVM blocked in ${call.name}`);
      const text = run.blockedConsole.text();
      if (parentKilled) {
        // A forked pVM's monitor dies with its parent's (PR_SET_PDEATHSIG): not a crash.
        assert.equal(status, { kind: 'killed', signal: 'SIGKILL' }, text);
        assert.is(text, '');
      } else {
        assert.equal(status, { kind: 'exit', code: 0 }, text);
        assert.is(text, `${call.prints(how, run.counterpart.id)}\n`);
      }
    });
  }
}

// ---- guest calls whose counterpart is the host ----------------------------------------

vm('pvm_channel_accept: the host gives a channel: it prints the slot and peer 0 (the host)', async () => {
  const pvm = await ctx.host.spawn(guest('blocker'), { args: ['accept'], memory: '16MiB' });
  const out = consoleOf(pvm);
  await blockedIn(pvm, 'accept', 'pVM in accept');
  const channel = await within(ctx.host.channel(pvm), 'host.channel()');
  assert.equal(await endOf(pvm, 'pVM in accept'), { kind: 'exit', code: 0 });
  assert.is(out.text(), 'accept: slot 0 peer 0\n');
  assert.is(await within(channel.recv(), 'recv after the guest ended'), null);
});

vm('pvm_shm_accept: the host shares memory: it prints the slot', async () => {
  const pvm = await ctx.host.spawn(guest('blocker'), { args: ['shm-accept'], memory: '16MiB' });
  const out = consoleOf(pvm);
  await blockedIn(pvm, 'accept', 'pVM in shm-accept');
  await within(ctx.host.share(pvm, 4096), 'host.share()');
  assert.equal(await endOf(pvm, 'pVM in shm-accept'), { kind: 'exit', code: 0 });
  assert.is(out.text(), 'shm-accept: slot 0\n');
});

vm('channel receive from the host: the host closes its end: it prints recv: EPIPE', async () => {
  const pvm = await ctx.host.spawn(guest('blocker'), { args: ['orders'], memory: '16MiB' });
  const out = consoleOf(pvm);
  const channel = await within(ctx.host.channel(pvm), 'host.channel()');
  await blockedIn(pvm, 'wait', 'pVM in recv');
  channel.close();
  assert.equal(await endOf(pvm, 'pVM in recv'), { kind: 'exit', code: 0 });
  assert.is(out.text(), 'recv: EPIPE\n');
});

vm('channel receive from the host: the host half-closes (end()): it prints recv: EPIPE', async () => {
  const pvm = await ctx.host.spawn(guest('blocker'), { args: ['orders'], memory: '16MiB' });
  const out = consoleOf(pvm);
  const channel = await within(ctx.host.channel(pvm), 'host.channel()');
  await blockedIn(pvm, 'wait', 'pVM in recv');
  channel.end();
  assert.equal(await endOf(pvm, 'pVM in recv'), { kind: 'exit', code: 0 });
  assert.is(out.text(), 'recv: EPIPE\n');
  channel.close();
});

/** A guest sleeping in a send to the host on a full ring the host never reads. */
async function startSendHost(host: Host) {
  const pvm = await host.spawn(guest('blocker'), { args: ['send-host'], memory: '16MiB' });
  const out = consoleOf(pvm);
  const channel = await within(host.channel(pvm), 'host.channel()');
  await blockedIn(pvm, 'wait', 'pVM in send');
  return { pvm, out, channel };
}

vm('channel send to the host on a full ring: the host closes its end: it prints send: EPIPE', async () => {
  const { pvm, out, channel } = await startSendHost(ctx.host);
  channel.close();
  assert.equal(await endOf(pvm, 'pVM in send'), { kind: 'exit', code: 0 });
  assert.is(out.text(), 'send: EPIPE\n');
});

/** Spawns a blocker that will exec `image` on order, and holds it in EXEC's wait for the host. */
async function startExec(host: Host, image: string) {
  const pvm = await host.spawn(guest('blocker'), { args: ['orders'], memory: '16MiB' });
  const out = consoleOf(pvm);
  const channel = await within(host.channel(pvm), 'host.channel()');
  await blockedIn(pvm, 'wait', 'pVM waiting for its order');
  assert.ok(channel.trySend(`exec ${image}`));
  return { pvm, out, channel };
}

vm('guest exec of an image name: the host sends the image: the new image runs', async () => {
  const { pvm, out, channel } = await startExec(ctx.host, 'hello');
  const execed = new Promise((resolve) => pvm.once('exec', resolve));
  assert.equal(await endOf(pvm, 'pVM in exec'), { kind: 'exit', code: 0 });
  await within(execed, "the 'exec' event");
  assert.is(out.text(), `hello from pVM ${pvm.id}\narg[0]=hello\n`);
  channel.close();
});

vm('guest exec of an image name that does not exist: the host answers ENOENT: it prints exec: ENOENT', async () => {
  const { pvm, out, channel } = await startExec(ctx.host, 'no_such_image');
  assert.equal(await endOf(pvm, 'pVM in exec'), { kind: 'exit', code: 0 });
  assert.is(out.text(), 'exec: ENOENT\n');
  channel.close();
});

// ---- the host's own waits on a channel to a guest that ends ----------------------------

/** A host-side wait on a channel: what it is, how to start it, how to check how it ended. */
interface HostWait {
  name: string;
  /** Starts the wait on `channel` (the guest reads `orders`, never `quiet`). */
  start(orders: Channel, quiet: Channel): Promise<unknown>;
  /** Asserts what the wait gave once the guest ended. */
  check(outcome: unknown): void;
}

const HOST_WAITS: HostWait[] = [
  {
    name: 'recv()',
    start: (orders) => orders.recv(),
    check: (outcome) => assert.is(outcome, null, 'recv() gives null: end-of-stream'),
  },
  {
    name: 'the async iterator',
    start: async (orders) => {
      const got: Buffer[] = [];
      for await (const message of orders) got.push(message);
      return got;
    },
    check: (outcome) => assert.equal(outcome, [], 'the loop ends, with no message'),
  },
  {
    name: 'stream() reading',
    start: (orders) =>
      new Promise<Buffer[]>((resolve, reject) => {
        const got: Buffer[] = [];
        orders
          .stream()
          .on('data', (chunk: Buffer) => got.push(chunk))
          .on('end', () => resolve(got))
          .on('error', reject);
      }),
    check: (outcome) => assert.equal(outcome, [], "the readable side ends ('end'), with no byte"),
  },
  {
    name: 'send() on a full ring',
    start: (_, quiet) => {
      const chunk = Buffer.alloc(1024, 'h');
      while (quiet.trySend(chunk));
      return quiet.send(chunk).then(
        () => 'sent',
        (e: unknown) => e,
      );
    },
    check: (outcome) => {
      assert.instance(outcome, PvmError, String(outcome));
      assert.is((outcome as PvmError).code, 'EPIPE', (outcome as PvmError).message);
    },
  },
];

/** A guest taking orders on one host channel, with a second one it never reads. */
async function startHostWaits(host: Host) {
  const pvm = await host.spawn(guest('blocker'), { args: ['orders'], memory: '16MiB' });
  const orders = await within(host.channel(pvm), 'host.channel() for orders');
  await blockedIn(pvm, 'wait', 'guest in recv on the orders channel');
  const quiet = await within(host.channel(pvm), 'host.channel() never read');
  return { pvm, orders, quiet };
}

for (const wait of HOST_WAITS) {
  for (const how of ENDINGS) {
    vm(`host Channel ${wait.name}: the guest ${how}: it ends as the README says`, async () => {
      const { pvm, orders, quiet } = await startHostWaits(ctx.host);
      const waiting = wait.start(orders, quiet);
      assert.ok(await stillPending(waiting), `${wait.name} did not wait`);
      await end(pvm, how, (order) => within(orders.send(order), `sending '${order}'`));
      wait.check(await within(waiting, `host ${wait.name}`));
      assertEndedAs(await endOf(pvm, 'guest'), how, 'the guest');
      orders.close();
      quiet.close();
    });
  }
}

vm("the host's own close() ends its pending recv() and send() with ECLOSED", async () => {
  const { pvm, orders, quiet } = await startHostWaits(ctx.host);
  const receiving = orders.recv().catch((e: unknown) => e);
  const sending = HOST_WAITS.find((w) => w.name.startsWith('send'))!.start(orders, quiet);
  assert.ok(await stillPending(receiving));
  assert.ok(await stillPending(sending));
  orders.close();
  quiet.close();
  for (const outcome of await within(Promise.all([receiving, sending]), 'the pending calls')) {
    assert.instance(outcome, PvmError, String(outcome));
    assert.is((outcome as PvmError).code, 'ECLOSED');
  }
  // The guest's receive on the closed channel ends too: end-of-stream.
  assert.equal(await endOf(pvm, 'guest'), { kind: 'exit', code: 0 });
});

// ---- the host's requests waiting for a monitor's answer --------------------------------

/** A host request a monitor answers at its next clean exit. */
const HOST_REQUESTS: Array<{ name: string; make(host: Host, pvm: Pvm): Promise<unknown> }> = [
  { name: 'pvm.fork()', make: (_, pvm) => pvm.fork() },
  { name: 'pvm.exec()', make: (_, pvm) => pvm.exec(guest('hello')) },
  { name: 'host.channel()', make: (host, pvm) => host.channel(pvm) },
  { name: 'host.share()', make: (host, pvm) => host.share(pvm, 4096) },
];

const REQUEST_ENDINGS = ['kill(SIGTERM)', 'kill(SIGKILL)', 'host.close()'] as const;

for (const request of HOST_REQUESTS) {
  for (const how of REQUEST_ENDINGS) {
    // Ended by a kill: ESRCH; by host.close(): ECLOSED (what was in flight then).
    const code = how === 'host.close()' ? 'ECLOSED' : 'ESRCH';
    vm(`${request.name} waiting for the monitor's answer: the pVM ends by ${how}: it rejects with ${code}`, async () => {
      // A monitor waiting for a guest exec's image keeps the host's requests for later:
      // held there (the host cannot answer meanwhile), it never answers this one.
      const own = how === 'host.close()' ? await Host.open() : null;
      const host = own ?? ctx.host;
      try {
        const { pvm, channel } = await startExec(host, 'hello');
        holdInExec(pvm);
        const outcome = request.make(host, pvm).then(
          (made) => made,
          (e: unknown) => e,
        );
        const closing = own?.close();
        if (!own) assert.ok(pvm.kill(how === 'kill(SIGTERM)' ? 'SIGTERM' : 'SIGKILL'));
        // Held until the monitor has left the wait: a SIGTERM is heard at its next sleep,
        // and an image that came first would let it exec and serve the request before it
        // ends (allowed: an answer sent before the end counts).
        holdUntil(() => pvm.activity?.state !== 'exec', `pVM ${pvm.id} to leave its exec wait after ${how}`);
        const got = await within(outcome, request.name);
        assert.instance(got, PvmError, `it resolved: ${String(got)}`);
        assert.is((got as PvmError).code, code, (got as PvmError).message);
        await endOf(pvm, 'pVM in exec');
        if (closing) await within(closing, 'host.close()');
        channel.close();
      } finally {
        await own?.close();
      }
    });
  }
}

// ---- a pVM blocked anywhere is killed promptly -----------------------------------------

/** A pVM blocked in a call, and what else its scenario started. */
interface BlockedRun {
  blocked: Pvm;
  /** What the blocked pVM printed; null where reading its console would unblock it. */
  blockedConsole: ReturnType<typeof consoleOf> | null;
  everyone: Pvm[];
  /** Channels the host holds in the scenario. */
  channels: Channel[];
}

/** Every guest blocking call, as a way to get a pVM blocked in it. */
interface GuestCall {
  name: string;
  /**
   * Blocks a pVM in the call. For EXEC the host would answer at once: its start returns
   * straight from holdUntil, so the caller's next synchronous step (a kill, host.close())
   * comes before any monitor event is handled.
   */
  start(host: Host): Promise<BlockedRun>;
}

const GUEST_CALLS: GuestCall[] = [
  ...FAMILY_CALLS.map(
    (call): GuestCall => ({
      name: call.name,
      start: async (host) => ({ ...(await startFamily(host, call)), channels: [] }),
    }),
  ),
  ...(['accept', 'shm-accept'] as const).map(
    (mode): GuestCall => ({
      name: mode === 'accept' ? 'pvm_channel_accept' : 'pvm_shm_accept',
      start: async (host) => {
        const pvm = await host.spawn(guest('blocker'), { args: [mode], memory: '16MiB' });
        const out = consoleOf(pvm);
        await blockedIn(pvm, 'accept', `pVM in ${mode}`);
        return { blocked: pvm, blockedConsole: out, everyone: [pvm], channels: [] };
      },
    }),
  ),
  {
    name: 'channel send to the host on a full ring',
    start: async (host) => {
      const { pvm, out, channel } = await startSendHost(host);
      return { blocked: pvm, blockedConsole: out, everyone: [pvm], channels: [channel] };
    },
  },
  {
    name: 'console output nobody reads (backpressure)',
    start: async (host) => {
      const pvm = await host.spawn(guest('blocker'), { args: ['flood'], memory: '16MiB' });
      await blockedIn(pvm, 'host-full', 'pVM printing to an unread console');
      return { blocked: pvm, blockedConsole: null, everyone: [pvm], channels: [] };
    },
  },
  {
    name: 'channel receive from the host',
    start: async (host) => {
      const pvm = await host.spawn(guest('blocker'), { args: ['orders'], memory: '16MiB' });
      const out = consoleOf(pvm);
      const channel = await within(host.channel(pvm), 'host.channel()');
      await blockedIn(pvm, 'wait', 'pVM in recv');
      return { blocked: pvm, blockedConsole: out, everyone: [pvm], channels: [channel] };
    },
  },
  {
    name: "guest exec, waiting for the host's image",
    start: async (host) => {
      const { pvm, out, channel } = await startExec(host, 'hello');
      // From here until the caller's action, no event is handled: the host cannot answer.
      holdInExec(pvm);
      return { blocked: pvm, blockedConsole: out, everyone: [pvm], channels: [channel] };
    },
  },
];

for (const call of GUEST_CALLS) {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    vm(`${call.name}: kill('${signal}') of the blocked pVM ends it at once, killed by ${signal}`, async () => {
      const run = await call.start(ctx.host);
      const t0 = performance.now();
      assert.ok(run.blocked.kill(signal));
      const status = await endOf(run.blocked, `pVM blocked in ${call.name}, after kill('${signal}')`);
      assert.equal(status, { kind: 'killed', signal }, run.blockedConsole?.text());
      if (run.blockedConsole) assert.is(run.blockedConsole.text(), '', 'the call did not return to the guest');
      // Prompt: the kill ends the sleep itself, not some later wake-up (the bound is loose
      // for a loaded 2-core machine; a kill takes a few ms).
      const ms = performance.now() - t0;
      assert.ok(ms < 2000, `the kill took ${ms.toFixed(0)} ms`);
      if (signal === 'SIGTERM') {
        // A SIGTERM ends only the pVM: its children run on, as with processes.
        for (const other of run.everyone) if (other.parent === run.blocked) assert.ok(other.running, `child ${other.id} ended`);
      }
      for (const channel of run.channels) channel.close();
    });
  }
}

vm("kill('SIGKILL') ends every pVM forked from it, by the host or a guest, also below one that ended: killed by SIGKILL", async () => {
  // top ─┬─ forkedByHost                      (obeys orders)
  //      └─ ended: exec'd into waitpid-child, then SIGTERMed: its guest has ended, its
  //         monitor stays while its child runs, which its `children` no longer shows
  //           └─ grandchild                   (obeys orders)
  const top = await ctx.host.spawn(guest('blocker'), { args: ['orders'], memory: '16MiB' });
  await blockedIn(top, 'accept', 'top');
  const { child: forkedByHost } = await within(top.fork(), 'top.fork()');
  const { child: ended, channel } = await within(top.fork(), 'top.fork()');
  await within(channel.send('exec blocker waitpid-child'), 'the exec order');
  await within(new Promise((resolve) => ended.once('exec', resolve)), 'the exec');
  const [grandchild] = await childrenOf(ended, 1);
  await blockedIn(ended, 'waitpid', 'the pVM that will end');
  await blockedIn(grandchild!, 'accept', 'grandchild');
  assert.ok(ended.kill('SIGTERM'));
  assert.equal(await endOf(ended, 'SIGTERMed pVM'), { kind: 'killed', signal: 'SIGTERM' });
  assert.ok(grandchild!.running && !top.children.has(ended));

  assert.ok(top.kill('SIGKILL'));
  for (const [role, p] of Object.entries({ top, forkedByHost, grandchild: grandchild! })) {
    assert.equal(await endOf(p, role), { kind: 'killed', signal: 'SIGKILL' }, role);
  }
  channel.close();
});

// ---- the host closing ends every wait ---------------------------------------------------

for (const call of GUEST_CALLS) {
  vm(`host.close() while a pVM is blocked in ${call.name}: all end, no monitor and no fd left`, async () => {
    const monitorsBefore = monitorsUnder();
    const fdsBefore = openFds();
    const host = await Host.open();
    try {
      const run = await call.start(host);
      await within(host.close(), 'host.close()'); // for EXEC: before the host could answer
      for (const p of run.everyone) {
        assert.equal(p.status, { kind: 'killed', signal: 'SIGKILL' }, `pVM ${p.id}: ${run.blockedConsole?.text()}`);
      }
      if (run.blockedConsole) assert.is(run.blockedConsole.text(), '');
    } finally {
      await host.close();
    }
    const left = () => monitorsUnder().filter((pid) => !monitorsBefore.includes(pid));
    assert.ok(await eventually(() => left().length === 0, BOUND_MS), `monitors left: ${left()}`);
    const leaked = () => openFds().filter((fd) => !fdsBefore.includes(fd));
    assert.ok(await eventually(() => leaked().length === 0, BOUND_MS), `fds left: ${leaked()}`);
  });
}

vm("host.close() ends the host's own waits: recv() gives null, the iterator and stream() end, send() is EPIPE", async () => {
  const fdsBefore = openFds();
  const host = await Host.open();
  try {
    const { pvm } = await startHostWaits(host);
    // Each wait on a channel of its own, which the guest neither reads nor writes.
    const waits: Promise<unknown>[] = [];
    for (const wait of HOST_WAITS) {
      const own = await within(host.channel(pvm), 'one more host.channel()');
      waits.push(wait.start(own, own));
    }
    for (const [i, w] of waits.entries()) assert.ok(await stillPending(w), `${HOST_WAITS[i]!.name} did not wait`);
    await within(host.close(), 'host.close()');
    const outcomes = await within(Promise.all(waits), "the host's waits");
    HOST_WAITS.forEach((wait, i) => wait.check(outcomes[i]));
    assert.equal(pvm.status, { kind: 'killed', signal: 'SIGKILL' });
  } finally {
    await host.close();
  }
  const leaked = () => openFds().filter((fd) => !fdsBefore.includes(fd));
  assert.ok(await eventually(() => leaked().length === 0, BOUND_MS), `fds left: ${leaked()}`);
});

suite.run();
