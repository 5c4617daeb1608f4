// Shared by the test files (uvu ignores files starting with "_").
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { test as uvuTest, suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Host, PvmError, builtinGuest, type Pvm } from '../lib/index.js';
import { loadAddon } from '../lib/native.js';

const probe = loadAddon().probeKvm();
/** True when this machine can run pVMs; tests that need a VM skip loudly otherwise. */
export const kvmAvailable = probe.ok;
if (!kvmAvailable) {
  console.warn(`\n!!! /dev/kvm is not usable here (${probe.message}): tests that need a VM are SKIPPED !!!\n`);
}

/**
 * A uvu suite plus its test function: `vm(title, fn)` is a test that needs /dev/kvm
 * and is reported as skipped (with the loud warning above) where there is none.
 */
export function vmSuite(name: string) {
  const s = suite(name);
  const vm = (kvmAvailable ? s : s.skip) as typeof s;
  return { suite: s, vm };
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

export { uvuTest as test };

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
  const parentOf = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      if (fields[0] === 'Z') continue; // zombies are reaped soon; they hold nothing
      parentOf.set(Number(entry), Number(fields[1]));
      comm.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close));
    } catch {
      // raced with the process ending
    }
  }
  const out: number[] = [];
  for (const [pid, name] of comm) {
    if (name !== 'pvm-monitor') continue;
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p)) {
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
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
