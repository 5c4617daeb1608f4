// guest.loopSpeed: ns per iteration of a dec/jnz loop inside a pVM vs the same loop
// natively (bench/native/loop_kernel.h is shared by both), same run.
import { Host, builtinGuest } from '../lib/index.js';
import { median, round, runNative, type Result } from './lib.js';

const ITERATIONS = 100_000_000;

function parseLoop(text: string): number {
  const m = /loop (\d+) iterations (\d+) ns/.exec(text);
  if (!m) throw new Error(`unexpected loop output: ${text}`);
  return Number(m[2]) / Number(m[1]);
}

export async function benchLoop(host: Host, runs: number): Promise<Result[]> {
  const guest: number[] = [];
  const native: number[] = [];
  for (let i = 0; i < runs; i++) {
    const pvm = await host.spawn(builtinGuest('loop'), { memory: '16MiB', args: [String(ITERATIONS)] });
    let text = '';
    for await (const chunk of pvm.console) text += chunk;
    const status = await pvm.exited;
    if (status.kind !== 'exit' || status.code !== 0) throw new Error(`loop pVM ended: ${JSON.stringify(status)}`);
    guest.push(parseLoop(text));
    native.push(parseLoop(await runNative('loop-native', [String(ITERATIONS)])));
  }
  return [
    {
      name: 'guest.loopSpeed',
      unit: 'ns/iter',
      value: round(median(guest), 3),
      baseline: { name: 'the same loop natively', value: round(median(native), 3) },
    },
  ];
}
