// Which backends a test run covers (uvu ignores files starting with "_"). Pure, so that
// test/suite-backends.test.ts can try it with a fake probe (a process backend that works).
import { AUTO_ORDER, type Backend } from '../lib/index.js';
import type { ProbeAnswer } from '../lib/backends.js';

/** One backend of the run: `ok` when its half runs, else `reason` says why it is skipped. */
export interface PlannedBackend {
  readonly name: Backend;
  readonly ok: boolean;
  readonly reason?: string;
}

/**
 * The backends a run covers, in {@link AUTO_ORDER}: every backend when `requested` (the
 * run's `PVM_BACKEND`) is unset or empty, only that one when it names one, only the one
 * `'auto'` picks for `'auto'` (all of them, skipped, when none works). Each says whether
 * it can run here, with the probe's reason when not. An unknown name throws: a run that
 * tests nothing must not pass.
 */
export function planBackends(requested: string | undefined, probe: (name: Backend) => ProbeAnswer): PlannedBackend[] {
  const answer = (name: Backend): PlannedBackend => {
    const a = probe(name);
    return a.ok ? { name, ok: true } : { name, ok: false, reason: a.message ?? `errno ${a.errno}` };
  };
  if (requested === undefined || requested === '') return AUTO_ORDER.map(answer);
  if (requested === 'auto') {
    const all = AUTO_ORDER.map(answer);
    const picked = all.find((b) => b.ok);
    return picked ? [picked] : all;
  }
  if (!(AUTO_ORDER as readonly string[]).includes(requested)) {
    throw new Error(`PVM_BACKEND: unknown backend ${JSON.stringify(requested)} (one of 'auto', ${AUTO_ORDER.map((b) => `'${b}'`).join(', ')})`);
  }
  return [answer(requested as Backend)];
}

/**
 * Which backends a test is about ({@link TestOptions.backends}): a list names them (a test
 * of KVM itself: `['kvm']`); `'first'` is the first backend of the run that works (kvm
 * here, else process), for tests whose subject is not the backend (the npm package, the
 * stress harness); unset: every backend.
 */
export type BackendSelector = readonly Backend[] | 'first';

/** Whether a test of `selector` has a half on `name` in `plan`. */
export function wants(selector: BackendSelector | undefined, name: Backend, plan: readonly PlannedBackend[]): boolean {
  if (selector === undefined) return true;
  if (selector === 'first') return name === (plan.find((b) => b.ok) ?? plan[0])?.name;
  return selector.includes(name);
}
