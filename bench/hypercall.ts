// hypercall.rtt: µs per no-op hypercall (GETID) from inside a pVM, median of batches,
// with its same-run baseline hypercall.floor: a bare write to the floor port, which the
// monitor answers with no work (what one exit costs). Batches of both alternate in one
// guest (test/guests/hypercall_bench.c), so both see the same machine.
// clock.read: ns per pvm_time_ns() in the same guest (rdtsc, no exit, where the backend
// gives tsc_khz); baseline: the TIME hypercall every read was before (one exit).
import { Host, builtinGuest } from '../lib/index.js';
import { median, round, type Result } from './lib.js';

const PER_BATCH = 200;

export async function benchHypercall(host: Host, runs: number): Promise<Result[]> {
  const rtt: number[] = [];
  const floor: number[] = [];
  const batches = Math.max(50, runs * 10);
  const pvm = await host.spawn(builtinGuest('hypercall_bench'), {
    memory: '16MiB',
    args: [String(batches), String(PER_BATCH)],
  });
  let text = '';
  for await (const chunk of pvm.console) text += chunk;
  const status = await pvm.exited;
  if (status.kind !== 'exit' || status.code !== 0) throw new Error(`hypercall_bench ended: ${JSON.stringify(status)}`);
  for (const m of text.matchAll(/^(rtt|floor) (\d+)$/gm)) (m[1] === 'rtt' ? rtt : floor).push(Number(m[2]) / 1000);
  if (rtt.length !== batches || floor.length !== batches) throw new Error(`unexpected hypercall_bench output: ${text.slice(0, 200)}`);
  return [
    {
      name: 'hypercall.rtt',
      unit: 'us',
      value: round(median(rtt), 2),
      baseline: { name: 'hypercall.floor: a bare write to the floor port', value: round(median(floor), 2) },
    },
    {
      name: 'clock.read',
      unit: 'ns',
      value: Number(/^clock (\d+)$/m.exec(text)?.[1]),
      baseline: { name: 'a TIME hypercall (what every read cost before)', value: Number(/^time (\d+)$/m.exec(text)?.[1]) },
    },
  ];
}
