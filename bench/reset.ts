// fork.reset.<N>pages: `await child.reset()` of a forked `reset` pVM (test/guests/reset.c)
// that has written N distinct pages since its last reset, host round trip (µs, median);
// baseline: a fresh fork of the same parent in the same run (`await parent.fork()`).
// fork.reset.<N>pages.monitor: the same reset as its monitor measured it (vCPU stopped
// to running again); baseline: the fresh fork's childReadyUs (parent stopped to child
// ready). The child has written its whole arena and been reset a few times first: the
// steady state of a long-lived pool child (README "Reset").
import { Host, builtinGuest, type Channel, type Pvm } from '../lib/index.js';
import { median, round, wanted, type Only, type Result } from './lib.js';

const PAGES = [16, 64, 256];
const ARENA_PAGES = 1024;

function ready(pvm: Pvm): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    pvm.console.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (seen.includes('reset: ready')) resolve();
    });
    void pvm.exited.then((s) => reject(new Error(`reset guest ended: ${JSON.stringify(s)} ${seen}`)));
  });
}

async function ask(channel: Channel, request: string): Promise<string> {
  await channel.send(request);
  return String(await channel.recv());
}

export async function benchReset(host: Host, runs: number, only?: Only): Promise<Result[]> {
  const names = PAGES.flatMap((n) => [`fork.reset.${n}pages`, `fork.reset.${n}pages.monitor`]);
  if (!names.some((n) => wanted(n, only))) return [];
  const parent = await host.spawn(builtinGuest('reset'), { memory: '32MiB' });
  const results: Result[] = [];
  try {
    await ready(parent);
    // The baseline: fresh forks of the same parent.
    const forkUs: number[] = [];
    const forkReadyUs: number[] = [];
    for (let i = 0; i < runs + 2; i++) {
      const t0 = process.hrtime.bigint();
      const { child, channel, childReadyUs } = await parent.fork();
      const t1 = process.hrtime.bigint();
      channel.close();
      await child.exited;
      if (i < 2) continue;
      forkUs.push(Number(t1 - t0) / 1e3);
      forkReadyUs.push(childReadyUs);
    }
    const { child, channel } = await parent.fork();
    if ((await child.reset().catch((e: { code?: string }) => e.code)) === 'ENOSYS') {
      for (const name of names) results.push({ name, unit: 'us', value: NaN, skipped: `the ${host.backend} backend cannot reset (ENOSYS)` });
      return results;
    }
    for (let i = 0; i < 3; i++) {
      await ask(channel, `pages ${ARENA_PAGES} 0`);
      await child.reset();
    }
    for (const n of PAGES) {
      const host_: number[] = [];
      const monitor: number[] = [];
      for (let i = 0; i < runs + 2; i++) {
        await ask(channel, `pages ${n} ${(i * 97) % ARENA_PAGES}`);
        const t0 = process.hrtime.bigint();
        const info = await child.reset();
        const t1 = process.hrtime.bigint();
        if (i < 2) continue;
        host_.push(Number(t1 - t0) / 1e3);
        monitor.push(info.resetUs);
      }
      const name = `fork.reset.${n}pages`;
      if (wanted(name, only))
        results.push({ name, unit: 'us', value: round(median(host_)), baseline: { name: 'fresh fork (host round trip)', value: round(median(forkUs)) } });
      if (wanted(`${name}.monitor`, only))
        results.push({ name: `${name}.monitor`, unit: 'us', value: round(median(monitor)), baseline: { name: 'fresh fork childReady', value: round(median(forkReadyUs)) } });
    }
    channel.close();
    await child.exited;
  } finally {
    parent.kill();
    await parent.exited;
  }
  return results;
}
