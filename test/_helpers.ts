// Shared by the test files (uvu ignores files starting with "_").
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { test as uvuTest, suite, type Callback, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { Host, PvmError, builtinGuest, type Pvm } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import { isBelow, processTable, pvmTreesOf } from './_trees.js';

// The backend of the run: PVM_BACKEND (npm run test:xen sets xen), else kvm.
const probe = loadAddon().probeBackend((process.env.PVM_BACKEND || 'kvm') as 'kvm');
/** True when this machine can run pVMs; tests that need a VM skip loudly otherwise. */
export const kvmAvailable = probe.ok;
if (!kvmAvailable) {
  console.warn(`\n!!! /dev/kvm is not usable here (${probe.message}): tests that need a VM are SKIPPED !!!\n`);
}

/** Per-test options of {@link vmSuite}'s `vm` and of {@link test}. */
export interface TestOptions {
  /** How long the test may run before it fails (default: `PVM_TEST_BOUND_MS`, else 60 s). */
  timeoutMs?: number;
}

/** A uvu test function whose tests are bounded in time (see {@link bounded}). */
export interface BoundedTest<T = Record<string, any>> {
  (title: string, fn: Callback<T>, options?: TestOptions): void;
  only(title: string, fn: Callback<T>, options?: TestOptions): void;
  skip: Test<T>['skip'];
  before: Test<T>['before'];
  after: Test<T>['after'];
  run(): void;
}

/** The bound of a test that sets none: `PVM_TEST_BOUND_MS`, else 60 s. */
const defaultBoundMs = boundFromEnv();

function boundFromEnv(): number {
  const raw = process.env.PVM_TEST_BOUND_MS;
  if (raw === undefined || raw === '') return 60_000;
  const ms = Number(raw);
  if (!(ms > 0)) throw new Error(`PVM_TEST_BOUND_MS: expected a number of milliseconds, got ${JSON.stringify(raw)}`);
  return ms;
}

/**
 * `fn` as a test that fails once it has run `timeoutMs` (uvu has no timeouts: a pVM that
 * never answers would stall the whole run with no word). The failure names the bound and
 * shows this process's pVM trees with what each pVM is blocked in; the same text goes to
 * stdout at once, whole, for CI logs. The run then goes on: the suite's `after` hook
 * closes its Host, which kills the pVMs the test left.
 */
export function bounded<T>(title: string, fn: Callback<T>, options: TestOptions = {}): Callback<T> {
  const ms = options.timeoutMs ?? defaultBoundMs;
  return async (context) => {
    let expired = false;
    let timer: NodeJS.Timeout | undefined;
    const body = (async () => fn(context))();
    // Past the bound nobody awaits the body; when it settles at last (often as the after
    // hook kills its pVMs) it is reported here, never left as an unhandled rejection.
    body.then(
      () => expired && console.log(`(the test "${title}", failed at its bound, has now ended)`),
      (err: unknown) =>
        expired && console.log(`(the test "${title}", failed at its bound, has now thrown: ${err instanceof Error ? err.message : String(err)})`),
    );
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        const report =
          `the test "${title}" exceeded its bound after ${ms / 1000} s ({ timeoutMs } or PVM_TEST_BOUND_MS); ` +
          `the pVMs of this process and those under it now:\n${treesOrWhyNot()}`;
        console.log(`\n${report}\n`);
        const err = new Error(report);
        err.stack = `Error: ${title}`; // no newline: uvu would print the rest of the message again as a stack
        reject(err);
      }, ms);
    });
    try {
      await Promise.race([body, bound]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** {@link pvmTreesOf} this process; a throw in a timer callback would end the whole run. */
function treesOrWhyNot(): string {
  try {
    return pvmTreesOf();
  } catch (err) {
    return `(could not read them: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/** `base` with every test it registers bounded; `skipAll` registers each as skipped. */
function boundedTests<T>(base: Test<T>, skipAll = false): BoundedTest<T> {
  const adder = (register: (title: string, fn: Callback<T>) => void) => (title: string, fn: Callback<T>, options?: TestOptions) =>
    skipAll ? base.skip(title) : register(title, bounded(title, fn, options));
  return Object.assign(adder(base), { only: adder(base.only), skip: base.skip, before: base.before, after: base.after, run: base.run });
}

/**
 * A uvu suite plus its test function: `vm(title, fn, { timeoutMs }?)` is a bounded test
 * (see {@link bounded}) that needs /dev/kvm and is reported as skipped (with the loud
 * warning above) where there is none.
 */
export function vmSuite(name: string): { suite: Test; vm: BoundedTest } {
  const s = suite(name);
  return { suite: s, vm: boundedTests(s, !kvmAvailable) };
}

/** This run is on the xen backend (npm run test:xen sets PVM_BACKEND=xen). */
export const onXen = process.env.PVM_BACKEND === 'xen';
const notOnXenSaid = new Set<string>();

/**
 * `vm` for a test that cannot pass on the xen backend, `why` says what is missing there
 * (e.g. "no fork yet (issue 19)"): on a xen run it is skipped, the reason said once.
 */
export function notOnXen(vm: BoundedTest, why: string): (title: string, fn: Callback, options?: TestOptions) => void {
  if (!onXen) return vm;
  return (title) => {
    if (!notOnXenSaid.has(why)) console.warn(`(xen: ${why}: the tests that need it are SKIPPED)`);
    notOnXenSaid.add(why);
    vm.skip(`${title} [not on xen: ${why}]`);
  };
}

/** Opens a Host for a suite in `before` and closes it in `after` (when KVM is there). */
export function withHost(s: ReturnType<typeof suite>): { readonly host: Host } {
  const box = { host: undefined as unknown as Host };
  s.before(async () => {
    if (kvmAvailable) box.host = await Host.open();
  });
  s.after(async () => {
    await box.host?.close();
  });
  return box;
}

/** uvu's default suite, its tests bounded like `vm`'s (no KVM needed). */
export const test: BoundedTest = boundedTests(uvuTest);

/** Path of a built test guest. */
export const guest = builtinGuest;

/** Collects a pVM's whole console output and its exit status. */
export async function outputOf(pvm: Pvm): Promise<{ text: string; status: Awaited<Pvm['exited']> }> {
  const chunks: Buffer[] = [];
  for await (const chunk of pvm.console) chunks.push(chunk as Buffer); // ends when the pVM ends
  return { text: Buffer.concat(chunks).toString('utf8'), status: await pvm.exited };
}

/** Spawns `name` with options and returns its output and status. */
export async function run(host: Host, name: string, args: string[] = [], memory: string | number = '32MiB') {
  const pvm = await host.spawn(guest(name), { args, memory });
  return { pvm, ...(await outputOf(pvm)) };
}

/** pids of live pvm-monitor processes descending from `root` (default: this process). */
export function monitorsUnder(root = process.pid): number[] {
  const table = processTable();
  return [...table].filter(([pid, p]) => p.name === 'pvm-monitor' && isBelow(pid, root, table)).map(([pid]) => pid);
}

/** This process's open fds, as "fd -> target" strings. */
export function openFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the fd used by readdir itself
    }
  }
  return out.sort();
}

/** Waits until `check()` is true or `ms` passes; returns the last result. */
export async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

/**
 * Collects a pVM's console from now on (one listener, so nothing is split between two
 * readers): `until(line)` resolves once it has been printed, `text()` is all so far.
 */
export function consoleOf(pvm: Pvm): { text(): string; until(line: string): Promise<void> } {
  let seen = '';
  const waiters: Array<{ line: string; resolve: () => void }> = [];
  pvm.console.on('data', (d: Buffer) => {
    seen += d;
    for (const w of waiters.splice(0)) {
      if (seen.includes(w.line)) w.resolve();
      else waiters.push(w);
    }
  });
  return {
    text: () => seen,
    until: (line) =>
      seen.includes(line) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ line, resolve })),
  };
}

/** Asserts that `promise` rejects with a PvmError of `code`. */
export async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (e) {
    assert.instance(e, PvmError);
    assert.is((e as PvmError).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** A /proc/<pid>/status figure in KiB (VmRSS, VmHWM, ...), 0 once the process is gone. */
export function statusKiB(pid: number, field: string): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
