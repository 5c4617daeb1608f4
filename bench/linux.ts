// linux.syscall.getpid: ns per raw getpid syscall made by an unmodified static Linux
// program (test/linux/linux_check.c, musl-gcc) in a pVM, served by the Linux personality
// inside the guest; baseline: the same binary run natively as a Linux process, same run.
// Each side times its own loop (clock_gettime around N calls); median of the runs.
// linux.syscall.getpid is the program as loaded (its `syscall` sites made calls:
// addon/monitor/linux_rewrite.h); linux.syscall.getpid.trapped the same with the rewrite
// off (PVM_LINUX_REWRITE=off in a fresh monitor's environment): every syscall traps.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Host } from '../lib/index.js';
import { median, round, type Result } from './lib.js';

const program = join(import.meta.dirname, '..', 'build', 'linux', 'linux_check');
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

export async function benchLinux(host: Host, runs: number): Promise<Result[]> {
  const names = ['linux.syscall.getpid', 'linux.syscall.getpid.trapped'];
  const skipped = (why: string): Result[] => names.map((name) => ({ name, unit: 'ns', value: NaN, skipped: why }));
  if (!existsSync(program)) return skipped('musl-gcc is not installed: build/linux/linux_check was not built');
  if (host.backend !== 'kvm') return skipped(`Linux programs run on kvm only (this host is ${host.backend})`);
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
  ];
}
