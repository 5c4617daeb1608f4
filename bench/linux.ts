// linux.syscall.getpid: ns per raw getpid syscall made by an unmodified static Linux
// program (test/linux/linux_check.c, musl-gcc) in a pVM, served by the Linux personality
// inside the guest; baseline: the same binary run natively as a Linux process, same run.
// Each side times its own loop (clock_gettime around N calls); median of the runs.
// linux.syscall.getpid is the program as loaded (its `syscall` sites made calls:
// addon/monitor/linux_rewrite.h); linux.syscall.getpid.trapped the same with the rewrite
// off (PVM_LINUX_REWRITE=off in a fresh monitor's environment): every syscall traps (kvm:
// to LSTAR; process: the seccomp filter's SIGSYS, sent on to the personality). Both also
// get a `.process` row (bench/backends.ts) with the native figure of that run as baseline.
// linux.forkExitWait: µs per fork + _exit + waitpid round of test/linux/linux_proc.c (each
// child a pVM), against the same program run natively. linux.busyboxPipeline: ms for
// `busybox sh -c 'echo hi | wc -c'` end to end (spawn to exit, every process a pVM),
// against the same busybox run natively with its applets first on PATH.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../lib/index.js';
import { median, round, wanted, type Only, type Result } from './lib.js';

const program = join(import.meta.dirname, '..', 'build', 'linux', 'linux_check');
const procProgram = join(import.meta.dirname, '..', 'build', 'linux', 'linux_proc');
const ROUNDS_IN_PVM = 50;
const ROUNDS_NATIVE = 500;
const PIPELINE = 'echo hi | wc -c';
const CALLS_IN_PVM = 100_000;
const CALLS_TRAPPED = 2000;  // a trapping syscall costs µs here: keep a run short
const CALLS_NATIVE = 1_000_000;

function nsPerCall(text: string): number {
  const m = /getpid \d+ calls ([0-9.]+) ns\/call/.exec(text);
  if (!m) throw new Error(`unexpected linux_check output: ${text.slice(0, 200)}`);
  return Number(m[1]);
}

async function getpidInPvm(host: Host, calls: number, rewrite: boolean): Promise<number> {
  // The monitor reads PVM_LINUX_REWRITE at load: a fresh one (no pool) spawned while it is set.
  if (!rewrite) process.env.PVM_LINUX_REWRITE = 'off';
  let pvm;
  try {
    pvm = await host.spawn(program, { args: ['getpid', String(calls)], memory: '16MiB', pool: rewrite });
  } finally {
    delete process.env.PVM_LINUX_REWRITE;
  }
  let text = '';
  for await (const chunk of pvm.console) text += chunk;
  const status = await pvm.exited;
  if (status.kind !== 'exit' || status.code !== 0) throw new Error(`linux_check getpid ended: ${text.slice(0, 200)}`);
  return nsPerCall(text);
}

function usPerRound(text: string): number {
  const m = /forkexitwait \d+ rounds ([0-9.]+) us\/round/.exec(text);
  if (!m) throw new Error(`unexpected linux_proc output: ${text.slice(0, 200)}`);
  return Number(m[1]);
}

async function outputIn(host: Host, image: string, args: string[]): Promise<string> {
  const pvm = await host.spawn(image, { args, memory: '32MiB' });
  let text = '';
  for await (const chunk of pvm.console) text += chunk;
  const status = await pvm.exited;
  if (status.kind !== 'exit' || status.code !== 0) throw new Error(`${image} ${args.join(' ')} ended: ${text.slice(0, 200)}`);
  return text;
}

/** Debian's busybox-static, fetched into build/debian/ (as the tests do), or why not. */
export async function busybox(): Promise<string | { skip: string }> {
  try {
    // @ts-expect-error: a plain .mjs script without types
    const { debianPackage } = await import('../scripts/vm-host/debian.mjs');
    const { dir } = debianPackage('busybox-static', join(import.meta.dirname, '..', 'build', 'debian')) as { dir: string };
    return join(dir, 'bin', 'busybox');
  } catch (err) {
    return { skip: `Debian's busybox-static cannot be fetched here (${(err as Error).message.split('\n')[0]})` };
  }
}

async function benchProcesses(host: Host, runs: number): Promise<Result[]> {
  const results: Result[] = [];
  if (!existsSync(procProgram)) {
    results.push({ name: 'linux.forkExitWait', unit: 'µs', value: NaN, skipped: 'musl-gcc is not installed: build/linux/linux_proc was not built' });
  } else {
    const inPvm: number[] = [];
    const native: number[] = [];
    for (let i = 0; i < runs; i++) {
      inPvm.push(usPerRound(await outputIn(host, procProgram, ['forkexitwait', String(ROUNDS_IN_PVM)])));
      native.push(usPerRound(execFileSync(procProgram, ['forkexitwait', String(ROUNDS_NATIVE)], { encoding: 'utf8' })));
    }
    const baseline = { name: 'the same program run natively (fork/_exit/waitpid on the host kernel)', value: round(median(native), 1) };
    results.push({ name: 'linux.forkExitWait', unit: 'µs', value: round(median(inPvm), 1), baseline });
  }
  const bb = await busybox();
  if (typeof bb !== 'string') {
    results.push({ name: 'linux.busyboxPipeline', unit: 'ms', value: NaN, skipped: bb.skip });
    return results;
  }
  // Natively: the same busybox, its applets first on PATH (as in the pVM, where sh execs busybox).
  const bin = mkdtempSync(join(tmpdir(), 'pvm-bench-bb-'));
  try {
    for (const applet of ['sh', 'echo', 'wc']) symlinkSync(bb, join(bin, applet));
    const inPvm: number[] = [];
    const native: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const text = await outputIn(host, bb, ['sh', '-c', PIPELINE]);
      inPvm.push(performance.now() - t0);
      if (text !== '3\n') throw new Error(`busybox pipeline printed ${JSON.stringify(text)}`);
      const t1 = performance.now();
      execFileSync(bb, ['sh', '-c', PIPELINE], { env: { PATH: bin }, encoding: 'utf8' });
      native.push(performance.now() - t1);
    }
    const baseline = { name: 'the same busybox run natively (sh, fork, exec on the host kernel; spawned from Node)', value: round(median(native), 2) };
    results.push({ name: 'linux.busyboxPipeline', unit: 'ms', value: round(median(inPvm), 2), baseline });
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  return results;
}

export async function benchLinux(host: Host, runs: number, only?: Only): Promise<Result[]> {
  const names = ['linux.syscall.getpid', 'linux.syscall.getpid.trapped'];
  const skipped = (why: string): Result[] =>
    [...names, 'linux.forkExitWait', 'linux.busyboxPipeline'].map((name) => ({ name, unit: '', value: NaN, skipped: why }));
  if (!existsSync(program)) return skipped('musl-gcc is not installed: build/linux/linux_check was not built');
  if (host.backend !== 'kvm' && host.backend !== 'process') return skipped(`Linux programs run on kvm and process (this host is ${host.backend})`);
  const rewritten: number[] = [];
  const trapped: number[] = [];
  const native: number[] = [];
  for (let i = 0; i < runs; i++) {
    rewritten.push(await getpidInPvm(host, CALLS_IN_PVM, true));
    trapped.push(await getpidInPvm(host, CALLS_TRAPPED, false));
    native.push(nsPerCall(execFileSync(program, ['getpid', String(CALLS_NATIVE)], { encoding: 'utf8' })));
  }
  const baseline = { name: 'the same program run natively (getpid on the host kernel)', value: round(median(native), 1) };
  return [
    { name: names[0], unit: 'ns', value: round(median(rewritten), 1), baseline },
    { name: names[1], unit: 'ns', value: round(median(trapped), 1), baseline },
    // The processes' figures only where asked (the `.process` rows name getpid's alone).
    ...(wanted('linux.forkExitWait', only) || wanted('linux.busyboxPipeline', only) ? await benchProcesses(host, runs) : []),
  ];
}
