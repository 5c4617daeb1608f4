// Shared by the test files (uvu ignores files starting with "_").
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { test as uvuTest, suite, type Callback, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { AUTO_ORDER, Host, PvmError, builtinGuest, type Backend, type HostOptions, type Pvm } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';
import { planBackends, wants, type BackendSelector, type PlannedBackend } from './_backends.js';
import { isBelow, processTable, pvmTreesOf } from './_trees.js';

/** The backends this run covers (`PVM_BACKEND` restricts it to one), each with whether it runs here. */
export const backendPlan: readonly PlannedBackend[] = planBackends(process.env.PVM_BACKEND, (name) => loadAddon().probeBackend(name));
for (const b of backendPlan) {
  if (!b.ok) console.warn(`\n!!! ${b.name}: ${b.reason}: the ${b.name} half of the suite is SKIPPED !!!\n`);
}
if (process.env.PVM_BACKEND) console.warn(`(PVM_BACKEND=${process.env.PVM_BACKEND}: this run tests ${backendPlan.map((b) => b.name).join(', ')} only)`);

/** Per-test options of {@link vmSuite}'s `vm` and of {@link test}. */
export interface TestOptions {
  /** How long the test may run before it fails (default: `PVM_TEST_BOUND_MS`, else 60 s). */
  timeoutMs?: number;
  /**
   * The backends the test is about (default: every backend of the run, or the suite's, see
   * {@link vmSuite}): `['kvm']` for a test of KVM itself, `'first'` for one whose subject is
   * not the backend (run once, on the first backend that works).
   */
  backends?: BackendSelector;
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

/** `base` with every test it registers bounded. */
function boundedTests<T>(base: Test<T>): BoundedTest<T> {
  const adder = (register: (title: string, fn: Callback<T>) => void) => (title: string, fn: Callback<T>, options?: TestOptions) =>
    register(title, bounded(title, fn, options));
  return Object.assign(adder(base), { only: adder(base.only), skip: base.skip, before: base.before, after: base.after, run: base.run });
}

/** The backend of the half running now: the one of the `vm` test or {@link vmSuite} hook in progress. */
let current: Backend | undefined;

/**
 * The backend the running `vm` test (or hook of a {@link vmSuite}) is on. Its half runs
 * with `PVM_BACKEND` set to it, so `Host.open()` with no backend and child processes
 * (the CLI, the examples) follow it too.
 */
export function backend(): Backend {
  if (current === undefined) throw new Error('backend(): called outside a test or hook of a vmSuite');
  return current;
}

/** A hook of a {@link vmSuite}: `before`/`after` run once for each backend's half, `.each` around each test. */
export interface SuiteHook {
  (fn: Callback): void;
  each(fn: Callback): void;
}

/** The suite of a {@link vmSuite}: one uvu suite per backend of the run, driven as one. */
export interface VmSuite {
  before: SuiteHook;
  after: SuiteHook;
  /** Counts a test as skipped on each backend it would have run on. */
  skip(title: string, options?: Pick<TestOptions, 'backends'>): void;
  /** Runs the half of each backend that has tests, one after the other. */
  run(): void;
}

/** The test function of a {@link vmSuite}: `vm(title, fn, { timeoutMs, backends })`. */
export interface VmTest {
  (title: string, fn: Callback, options?: TestOptions): void;
  only(title: string, fn: Callback, options?: TestOptions): void;
  skip(title: string, options?: Pick<TestOptions, 'backends'>): void;
}

/** One backend's half of a {@link vmSuite}. */
interface Half {
  readonly backend: PlannedBackend;
  readonly suite: Test;
  /** Tests registered in it, run or skipped: a half with none is not run at all. */
  tests: number;
}

/**
 * A suite that runs on each backend of the run ({@link backendPlan}): `vm(title, fn,
 * options?)` registers a bounded test (see {@link bounded}) in the half of each backend it
 * is about (`options.backends`, else `defaults.backends`, else all), named
 * `[backend] name`; a backend that cannot run here has its tests counted as skipped
 * (with the loud warning above). Hooks run in each half that runs; {@link withHost} opens
 * a Host on the half's backend.
 */
export function vmSuite(name: string, defaults: { backends?: BackendSelector } = {}): { suite: VmSuite; vm: VmTest } {
  return vmSuiteOn(backendPlan, name, defaults);
}

const notOnXenSaid = new Set<string>();

/**
 * `vm` for a test that cannot pass on the xen backend; `why` says what is missing there
 * (e.g. "a copying fork: guest RAM is copied by Xen"). It runs on the run's other backends; on xen it is
 * counted as skipped, the reason said once.
 */
export function notOnXen(vm: VmTest, why: string): (title: string, fn: Callback, options?: TestOptions) => void {
  return (title, fn, options = {}) => {
    const on = options.backends === 'first' ? 'first' : (options.backends ?? AUTO_ORDER).filter((b) => b !== 'xen');
    vm(title, fn, { ...options, backends: on });
    if (!backendPlan.some((b) => b.name === 'xen' && b.ok)) return;
    if (!notOnXenSaid.has(why)) console.warn(`(xen: ${why}: the tests that need it are SKIPPED)`);
    notOnXenSaid.add(why);
    vm.skip(`${title} [not on xen: ${why}]`, { backends: ['xen'] });
  };
}

/** {@link vmSuite} on a given plan (test/suite-backends.test.ts tries it on a made-up one). */
export function vmSuiteOn(plan: readonly PlannedBackend[], name: string, defaults: { backends?: BackendSelector } = {}): { suite: VmSuite; vm: VmTest } {
  const halves: Half[] = plan.map((b) => ({ backend: b, suite: suite(`[${b.name}] ${name}`), tests: 0 }));
  const live = halves.filter((h) => h.backend.ok);
  let savedEnv: string | undefined;
  for (const h of live) {
    h.suite.before(() => {
      current = h.backend.name;
      savedEnv = process.env.PVM_BACKEND;
      process.env.PVM_BACKEND = h.backend.name;
    });
  }
  const hook = (kind: 'before' | 'after'): SuiteHook =>
    Object.assign((fn: Callback) => live.forEach((h) => h.suite[kind](fn)), {
      each: (fn: Callback) => live.forEach((h) => h.suite[kind].each(fn)),
    });
  const halvesFor = (options: Pick<TestOptions, 'backends'> = {}) =>
    halves.filter((h) => wants(options.backends ?? defaults.backends, h.backend.name, plan));
  const skip = (title: string, options?: Pick<TestOptions, 'backends'>) => {
    for (const h of halvesFor(options)) {
      h.tests++;
      h.suite.skip(title);
    }
  };
  const register = (only: boolean) => (title: string, fn: Callback, options: TestOptions = {}) => {
    for (const h of halvesFor(options)) {
      h.tests++;
      if (!h.backend.ok) {
        h.suite.skip(title);
        continue;
      }
      const body = bounded(`[${h.backend.name}] ${name}: ${title}`, fn, options);
      (only ? h.suite.only : h.suite)(title, (context) => {
        current = h.backend.name;
        return body(context);
      });
    }
  };
  const run = () => {
    for (const h of halves) {
      if (h.tests === 0) continue;
      // The last after hook of the half, whatever the file registered.
      if (h.backend.ok) {
        h.suite.after(() => {
          if (savedEnv === undefined) delete process.env.PVM_BACKEND;
          else process.env.PVM_BACKEND = savedEnv;
          current = undefined;
        });
      }
      h.suite.run();
    }
  };
  return {
    suite: { before: hook('before'), after: hook('after'), skip, run },
    vm: Object.assign(register(false), { only: register(true), skip }),
  };
}

/** Opens a Host on each half's backend in `before` (with `options`) and closes it in `after`. */
export function withHost(s: VmSuite, options: Omit<HostOptions, 'backend'> = {}): { readonly host: Host } {
  const box = { host: undefined as unknown as Host };
  s.before(async () => {
    box.host = await Host.open({ ...options, backend: backend() });
  });
  s.after(async () => {
    await box.host?.close();
    box.host = undefined as unknown as Host;
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

/**
 * Waits until `check()` is true or `ms` passes; returns the last result. The default is
 * loose on purpose: it costs nothing when the check comes true, and a fresh, loaded
 * 2-core machine can take seconds for what takes milliseconds here.
 */
export async function eventually(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

// Resolves once the pVM has printed `line` (reads the console stream; the rest of the
// output is then discarded).
export function waitForLine(pvm: Pvm, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    pvm.console.on('data', (chunk: Buffer) => {
      seen += chunk;
      if (seen.includes(line)) resolve();
    });
    pvm.console.on('end', () => reject(new Error(`pVM ${pvm.id} ended without ${JSON.stringify(line)}: ${seen}`)));
  });
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

/** CPU time (user + system, in clock ticks of 10 ms) process `pid` has used. */
export function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}
