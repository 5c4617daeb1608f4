// linux.syscall.getpid: ns per raw getpid syscall made by an unmodified static Linux
// program (test/linux/linux_check.c, musl-gcc) in a pVM, served by the Linux personality
// inside the guest; baseline: the same binary run natively as a Linux process, same run.
// Each side times its own loop (clock_gettime around N calls); median of the runs.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Host } from '../lib/index.js';
import { median, round, type Result } from './lib.js';

const program = join(import.meta.dirname, '..', 'build', 'linux', 'linux_check');
const CALLS_IN_PVM = 2000;  // a trapping syscall costs µs here: keep a run short
const CALLS_NATIVE = 1_000_000;

function nsPerCall(text: string): number {
  const m = /getpid \d+ calls ([0-9.]+) ns\/call/.exec(text);
  if (!m) throw new Error(`unexpected linux_check output: ${text.slice(0, 200)}`);
  return Number(m[1]);
}

export async function benchLinux(host: Host, runs: number): Promise<Result[]> {
  const name = 'linux.syscall.getpid';
  const skipped = (why: string): Result[] => [{ name, unit: 'ns', value: NaN, skipped: why }];
  if (!existsSync(program)) return skipped('musl-gcc is not installed: build/linux/linux_check was not built');
  if (host.backend !== 'kvm') return skipped(`Linux programs run on kvm only (this host is ${host.backend})`);
  const inPvm: number[] = [];
  const native: number[] = [];
  for (let i = 0; i < runs; i++) {
    const pvm = await host.spawn(program, { args: ['getpid', String(CALLS_IN_PVM)], memory: '16MiB' });
    let text = '';
    for await (const chunk of pvm.console) text += chunk;
    const status = await pvm.exited;
    if (status.kind !== 'exit' || status.code !== 0) throw new Error(`linux_check getpid ended: ${text.slice(0, 200)}`);
    inPvm.push(nsPerCall(text));
    native.push(nsPerCall(execFileSync(program, ['getpid', String(CALLS_NATIVE)], { encoding: 'utf8' })));
  }
  return [
    {
      name,
      unit: 'ns',
      value: round(median(inPvm), 1),
      baseline: { name: 'the same program run natively (getpid on the host kernel)', value: round(median(native), 1) },
    },
  ];
}
