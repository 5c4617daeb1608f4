// snapshot.save.64MiB: pvm.snapshot() of a pVM with 64 MiB of RAM, nearly all of it
// written (the snapshot_state guest), until the file is in place; baseline: Node writing
// as many bytes to a new file of the same directory, same run.
// snapshot.pause.64MiB: how long its vCPU was paused for it (the writer is a fork);
// baseline: pvm.fork() of the same pVM, its parentPausedUs, same run.
// spawn.fromSnapshot: host.spawn({ snapshot }) of a warmed-up snapshot_state guest (16 MiB
// built) to its first instruction (the first exit); baseline: spawning its image and its
// warm-up (to the "built" line), same run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Host, builtinGuest, type Pvm } from '../lib/index.js';
import { median, round, type Result } from './lib.js';

const SAVE_MIB = 64;
const SAVE_FILL_MIB = 56; // of the 64: the rest is the image, stack and boot data
const WARM_MIB = 16;

/** Resolves when `pvm` has printed `line` (the time it arrived, ns). */
function lineAt(pvm: Pvm, line: string): Promise<bigint> {
  return new Promise((resolve) => {
    let seen = '';
    pvm.console.on('data', (d: Buffer) => {
      seen += d;
      if (seen.includes(line)) resolve(process.hrtime.bigint());
    });
  });
}

async function builtGuest(host: Host, memory: number, mib: number): Promise<{ pvm: Pvm; builtNs: bigint }> {
  const pvm = await host.spawn(builtinGuest('snapshot_state'), { memory: `${memory}MiB`, args: [String(mib)], pool: false });
  const builtNs = await lineAt(pvm, 'built');
  return { pvm, builtNs };
}

export async function benchSnapshot(host: Host, runs: number): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-bench-snapshot-'));
  try {
    // snapshot.save.64MiB, and Node writing as many bytes.
    const { pvm: big } = await builtGuest(host, SAVE_MIB, SAVE_FILL_MIB);
    const saves: number[] = [];
    const writes: number[] = [];
    const pauses: number[] = [];
    const forkPauses: number[] = [];
    let bytes = 0;
    for (let i = 0; i < runs + 2; i++) {
      const t0 = process.hrtime.bigint();
      const info = await big.snapshot(join(dir, `big-${i}.snap`));
      const t1 = process.hrtime.bigint();
      bytes = info.bytes;
      const data = Buffer.alloc(bytes, i + 1);
      const t2 = process.hrtime.bigint();
      writeFileSync(join(dir, `plain-${i}.bin`), data);
      const t3 = process.hrtime.bigint();
      // Each a new file, removed after: neither figure pays for replacing the last one.
      rmSync(join(dir, `big-${i}.snap`));
      rmSync(join(dir, `plain-${i}.bin`));
      const fork = await big.fork({ console: 'ignore' });
      fork.channel.close();
      fork.child.kill('SIGKILL');
      await fork.child.exited;
      if (i < 2) continue;
      saves.push(Number(t1 - t0) / 1000);
      writes.push(Number(t3 - t2) / 1000);
      pauses.push(info.pausedUs);
      forkPauses.push(fork.parentPausedUs);
    }
    big.kill();
    await big.exited;

    // spawn.fromSnapshot, and the image's spawn + warm-up.
    const warm: number[] = [];
    for (let i = 0; i < Math.min(runs, 15) + 2; i++) {
      const { pvm, builtNs } = await builtGuest(host, 32, WARM_MIB);
      if (i >= 2) warm.push(Number(builtNs - pvm.timings.spawnNs) / 1000);
      if (i === 0) await pvm.snapshot(join(dir, 'warm.snap'));
      pvm.kill();
      await pvm.exited;
    }
    const fromSnapshot: number[] = [];
    for (let i = 0; i < runs + 3; i++) {
      const pvm = await host.spawn({ snapshot: join(dir, 'warm.snap'), pool: false, console: 'ignore' });
      while (pvm.timings.firstExitNs === undefined) await new Promise((r) => setImmediate(r));
      if (i >= 3) fromSnapshot.push(Number(pvm.timings.firstExitNs - pvm.timings.spawnNs) / 1000);
      pvm.kill();
      await pvm.exited;
    }
    return [
      {
        name: `snapshot.save.${SAVE_MIB}MiB`,
        unit: 'us',
        value: round(median(saves)),
        baseline: { name: `fs.writeFileSync of the same ${round(bytes / 2 ** 20)} MiB`, value: round(median(writes)) },
      },
      {
        name: `snapshot.pause.${SAVE_MIB}MiB`,
        unit: 'us',
        value: round(median(pauses)),
        baseline: { name: `pvm.fork() of the same pVM: parent paused`, value: round(median(forkPauses)) },
      },
      {
        name: 'spawn.fromSnapshot',
        unit: 'us',
        value: round(median(fromSnapshot)),
        baseline: { name: `spawn of the image + its warm-up (${WARM_MIB} MiB built)`, value: round(median(warm)) },
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
