// The xen figures (a Xen dom0: `npm run test:xen -- --bench` runs them on the QEMU Xen host),
// each with its same-run baseline:
//   spawn.firstInstruction.xen   spawn of hello (16 MiB) to its first hypercall, vs the
//                                bare Xen cost of a domain of that shape: create,
//                                populate, map and write its RAM from dom0 (no guest runs;
//                                bench/native/xen-create-baseline.c)
//   spawn.toExit.xen             to the exit event, vs the same plus destroying the domain
//   xen.domain.{create,populate.16MiB,mapWrite.16MiB,destroy}   that baseline's steps
//   hypercall.rtt.xen            a no-op hypercall (an ioreq round trip through the monitor)
//                                vs hypercall.floor.xen (the floor port: one exit, no work)
//   ipc.msg.rtt.xen              1 KiB guest↔guest message round trip over a fork channel
//                                (ipc_bench msg: pages mapped in both domains, eventfd
//                                doorbells between the monitors) vs hypercall.rtt.xen
//   ipc.host.rtt.xen             64 B Node↔guest round trip over a host fork's channel
//                                (dom0's own mapping of the pages) vs hypercall.rtt.xen
//   fork.{parentPaused,childReady}.xen[.copy]   a guest fork, memshr where the hypervisor
//                                allows (and copy), vs a spawn from scratch (bench/xen-fork.ts)
// Under TCG absolute times mean little; the ratios and the breakdown do.
import type { Host } from '../lib/index.js';
import { benchHypercall } from './hypercall.js';
import { hostRttPvm, medianUs, runGuest } from './ipc.js';
import { benchXenFork } from './xen-fork.js';
import { median, round, runNative, type Result } from './lib.js';
import { spawnHelloTimings } from './spawn.js';

interface DomainFloor {
  createUs: number;
  populateUs: number;
  mapWriteUs: number;
  destroyUs: number;
  totalUs: number;
}

export async function benchXen(host: Host, runs: number): Promise<Result[]> {
  const { first, toExit } = await spawnHelloTimings(host, runs, 2);
  const floor = JSON.parse(await runNative('xen-create-baseline', ['16', String(runs)])) as DomainFloor;
  const made = floor.createUs + floor.populateUs + floor.mapWriteUs;
  const step = (name: string, value: number): Result => ({ name, unit: 'us', value: round(value) });
  const [rtt] = await benchHypercall(host, runs);
  const hypercall = { name: 'hypercall.rtt.xen: a no-op hypercall, same run', value: rtt!.value };
  // Few iterations: TCG is ~50x slower than hardware.
  const channels: Result[] = [];
  try {
    const msg = medianUs(await runGuest(host, ['msg', '1024', '50', '5']));
    channels.push({ name: 'ipc.msg.rtt.xen', unit: 'us', value: round(msg), baseline: hypercall });
  } catch (e) {
    process.stderr.write(`ipc.msg.rtt.xen: left out: ${(e as Error).message}\n`);
  }
  try {
    const hostRtt = await hostRttPvm(host, 64, 20, 200);
    channels.push({ name: 'ipc.host.rtt.xen', unit: 'us', value: round(hostRtt), baseline: hypercall });
  } catch (e) {
    process.stderr.write(`ipc.host.rtt.xen: left out: ${(e as Error).message}\n`);
  }
  const forks = await benchXenFork(runs);
  return [
    {
      name: 'spawn.firstInstruction.xen',
      unit: 'us',
      value: round(median(first)),
      baseline: { name: 'a bare domain of that shape: create + populate + map/write RAM (xen-create-baseline)', value: round(made) },
    },
    {
      name: 'spawn.toExit.xen',
      unit: 'us',
      value: round(median(toExit)),
      baseline: { name: 'the same domain made and destroyed (xen-create-baseline)', value: round(floor.totalUs) },
    },
    step('xen.domain.create', floor.createUs),
    step('xen.domain.populate.16MiB', floor.populateUs),
    step('xen.domain.mapWrite.16MiB', floor.mapWriteUs),
    step('xen.domain.destroy', floor.destroyUs),
    { ...rtt!, name: 'hypercall.rtt.xen', baseline: { name: 'hypercall.floor.xen: a bare write to the floor port', value: rtt!.baseline!.value } },
    ...channels,
    ...forks,
  ];
}
