// Snapshot by fork: a key-value store in a pVM takes a consistent snapshot without
// stopping, the way Redis's BGSAVE does with fork(2).
//
//   npm run example:snapshot                   20,000 keys, a snapshot while 5,000 puts go on
//   npm run example:snapshot -- --keys 100000 --puts 20000 --out /tmp/kv.snapshot
//
// The store is examples/guests/kvstore.c; the host talks to it over a channel
// (`host.channel(store)`): put, get, del, count, snapshot. On "snapshot" the guest forks
// itself (FORK): the child is a copy-on-write image of the store at that instant. The
// host gives the child a channel of its own (on the store's `fork` event) and the child
// streams every entry over it, then exits; the host writes the stream to a file. The
// parent answers the next put at once: it never waits for the snapshot, and the
// snapshot never sees a put made after the fork, because the CPU copies a page the
// parent writes instead of changing the child's.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Host, PvmError, builtinGuest, describeExit, type Channel, type Pvm } from '../lib/index.js';

/** A snapshot being written: known as soon as the store has forked. */
export interface Snapshot {
  /** The store's version (changes made) at the fork: the snapshot holds exactly those. */
  readonly version: number;
  /** The pVM writing it out (the store's child). */
  readonly writer: Pvm;
  /** Resolves once the file is complete (written to `<file>.tmp`, then renamed). */
  readonly written: Promise<{ file: string; keys: number; bytes: number; ms: number }>;
}

const MAGIC = 0x564b5650; // "PVKV"

/** The host's side of a kvstore pVM. Keys: 1..255 bytes without spaces; values: any bytes. */
export class KvStore {
  readonly pvm: Pvm;
  #host: Host;
  #ownHost: boolean;
  #channel: Channel;
  #replies: Array<{ resolve: (b: Buffer) => void; reject: (e: Error) => void }> = [];
  #sending: Promise<void> = Promise.resolve();
  #forks = new Map<number, Pvm>();
  #forkWaiters = new Map<number, (p: Pvm) => void>();
  #snapshots = new Set<Promise<unknown>>();
  #closed = false;

  private constructor(host: Host, ownHost: boolean, pvm: Pvm, channel: Channel, log: (line: string) => void) {
    this.#host = host;
    this.#ownHost = ownHost;
    this.pvm = pvm;
    this.#channel = channel;
    // The store prints when it is ready, when something goes wrong and when it ends;
    // its snapshot children only when something goes wrong.
    const forward = (from: Pvm) =>
      from.console.on('data', (d: Buffer) => {
        for (const line of String(d).split('\n')) {
          if (line && line !== 'kvstore: ready') log(`[kvstore pVM ${from.id}] ${line}`);
        }
      });
    forward(pvm);
    // The store forks once per snapshot: note every child as it comes (the fork event
    // may come before or after the store's reply to "snapshot").
    pvm.on('fork', ({ child }) => {
      forward(child);
      const waiter = this.#forkWaiters.get(child.id);
      if (waiter) waiter(child);
      else this.#forks.set(child.id, child);
    });
    void this.#readReplies();
  }

  /**
   * Spawns a store on `host` (default: a Host of its own, closed by {@link KvStore.close}).
   * `log` gets what the store's pVMs print (default: stderr).
   */
  static async open(options: { host?: Host; memory?: string; log?: (line: string) => void } = {}): Promise<KvStore> {
    const host = options.host ?? (await Host.open());
    let pvm: Pvm | undefined;
    try {
      pvm = await host.spawn(builtinGuest('kvstore'), { memory: options.memory ?? '128MiB' });
      const channel = await host.channel(pvm);
      return new KvStore(host, !options.host, pvm, channel, options.log ?? ((line) => console.error(line)));
    } catch (err) {
      pvm?.kill('SIGKILL');
      await pvm?.exited;
      if (!options.host) await host.close();
      throw err;
    }
  }

  async #readReplies(): Promise<void> {
    try {
      for await (const reply of this.#channel) this.#replies.shift()?.resolve(reply);
    } catch (err) {
      if (!(err instanceof PvmError && err.code === 'ECLOSED')) throw err;
    }
    // The store ended (or we closed): whatever is still waiting will not get a reply.
    const status = this.pvm.status;
    const why = new PvmError('EPIPE', `the store pVM ${status ? describeExit(status) : 'closed its channel'}`);
    for (const r of this.#replies.splice(0)) r.reject(why);
  }

  // One request, one reply, in order; requests are pipelined (several in the ring).
  #request(message: Buffer | string): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new PvmError('ECLOSED', 'the store is closed'));
    let entry!: { resolve: (b: Buffer) => void; reject: (e: Error) => void };
    const reply = new Promise<Buffer>((resolve, reject) => this.#replies.push((entry = { resolve, reject })));
    // Sends go out one after the other, so replies come in the queue's order.
    const sent = this.#sending.then(() => this.#channel.send(message));
    this.#sending = sent.catch(() => {});
    sent.catch((err: Error) => {
      const i = this.#replies.indexOf(entry);
      if (i >= 0) this.#replies.splice(i, 1);
      entry.reject(err);
    });
    return reply;
  }

  async #ok(message: Buffer | string): Promise<string> {
    const reply = (await this.#request(message)).toString('latin1');
    if (reply === 'none') return reply;
    if (!reply.startsWith('ok')) {
      // "error fork: EAGAIN" (no slot for another snapshot child), "error out of memory", ...
      const code = /EAGAIN/.test(reply) ? 'EAGAIN' : /ENOMEM|out of memory/.test(reply) ? 'ENOMEM' : 'EINVAL';
      throw new PvmError(code, `store: ${reply}`);
    }
    return reply.slice(3);
  }

  /** Sets `key` to `value`; resolves with the store's version after the change. */
  async put(key: string, value: string | Buffer): Promise<number> {
    checkKey(key);
    return Number(await this.#ok(Buffer.concat([Buffer.from(`put ${key} `), Buffer.from(value)])));
  }

  /** The value of `key`, or undefined. */
  async get(key: string): Promise<Buffer | undefined> {
    checkKey(key);
    const reply = await this.#request(`get ${key}`);
    if (reply.toString('latin1') === 'none') return undefined;
    if (!reply.subarray(0, 3).equals(Buffer.from('ok '))) throw new PvmError('EINVAL', `store: ${reply}`);
    return reply.subarray(3);
  }

  /** Deletes `key`; true if it was there. */
  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return (await this.#ok(`del ${key}`)) !== 'none';
  }

  /** Keys, their bytes (keys and values), and the version. */
  async count(): Promise<{ keys: number; bytes: number; version: number }> {
    const [keys, bytes, version] = (await this.#ok('count')).split(' ').map(Number);
    return { keys: keys!, bytes: bytes!, version: version! };
  }

  /**
   * Takes a snapshot into `file`. Resolves once the store has forked: from then on the
   * store serves requests as usual while its child writes the snapshot out.
   */
  async snapshot(file: string): Promise<Snapshot> {
    const t0 = performance.now();
    const [childId, version] = (await this.#ok('snapshot')).split(' ').map(Number);
    let timer: NodeJS.Timeout | undefined;
    const writer = await new Promise<Pvm>((resolve, reject) => {
      const child = this.#forks.get(childId!);
      if (child) {
        this.#forks.delete(childId!);
        return resolve(child);
      }
      this.#forkWaiters.set(childId!, resolve);
      // The child is announced once it is ready to run; one that never gets there fails.
      timer = setTimeout(() => reject(new PvmError('EMONITOR', `snapshot child ${childId} did not start`)), 10_000);
    }).finally(() => {
      clearTimeout(timer);
      this.#forkWaiters.delete(childId!);
    });
    const written = this.#receive(writer, file, t0);
    this.#snapshots.add(written);
    void written.catch(() => {}).finally(() => this.#snapshots.delete(written));
    return { version: version!, writer, written };
  }

  async #receive(writer: Pvm, file: string, t0: number): Promise<{ file: string; keys: number; bytes: number; ms: number }> {
    const channel = await this.#host.channel(writer); // the child waits for it in pvm_channel_accept
    const tmp = `${file}.tmp`;
    let out: FileHandle | undefined = await open(tmp, 'w');
    let bytes = 0;
    try {
      for await (const chunk of channel) {
        await out.write(chunk);
        bytes += chunk.length;
      }
      await out.sync();
      await out.close();
      out = undefined;
      const status = await writer.exited;
      if (status.kind !== 'exit' || status.code !== 0) {
        throw new PvmError('EMONITOR', `snapshot writer pVM ${writer.id} ${describeExit(status)}`);
      }
      const { entries } = readSnapshot(tmp); // complete and well-formed, or this throws
      renameSync(tmp, file);
      return { file, keys: entries.size, bytes, ms: performance.now() - t0 };
    } catch (err) {
      await out?.close();
      rmSync(tmp, { force: true });
      throw err;
    } finally {
      channel.close();
    }
  }

  /** Closes the channel (the store finishes its snapshots and exits), then the Host if its own. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled(this.#snapshots);
    await this.#sending;
    this.#channel.end();
    const status = await Promise.race([
      this.pvm.exited,
      new Promise<null>((r) => setTimeout(() => r(null), 5000).unref()),
    ]);
    if (!status) this.pvm.kill('SIGKILL');
    await this.pvm.exited;
    this.#channel.close();
    if (this.#ownHost) await this.#host.close();
  }
}

function checkKey(key: string): void {
  const n = Buffer.byteLength(key);
  if (n < 1 || n > 255 || /[\s]/.test(key)) throw new PvmError('EINVAL', `key: 1..255 bytes without spaces: ${JSON.stringify(key)}`);
}

/** Reads a snapshot file: the store's version at the fork and every entry. Throws if it is damaged. */
export function readSnapshot(file: string): { version: number; entries: Map<string, Buffer> } {
  const b = readFileSync(file);
  const bad = (why: string) => new PvmError('EINVAL', `${file}: not a complete snapshot: ${why}`);
  if (b.length < 28 || b.readUInt32LE(0) !== MAGIC || b.readUInt32LE(4) !== 1) throw bad('header');
  const version = Number(b.readBigUInt64LE(8));
  const count = Number(b.readBigUInt64LE(16));
  const entries = new Map<string, Buffer>();
  let at = 24;
  for (let i = 0; i < count; i++) {
    if (at + 8 > b.length) throw bad(`entry ${i}`);
    const klen = b.readUInt32LE(at);
    const vlen = b.readUInt32LE(at + 4);
    at += 8;
    if (at + klen + vlen > b.length) throw bad(`entry ${i}`);
    entries.set(b.toString('utf8', at, at + klen), b.subarray(at + klen, at + klen + vlen));
    at += klen + vlen;
  }
  if (at + 4 !== b.length || b.toString('latin1', at, at + 4) !== 'END!') throw bad('trailer');
  return { version, entries };
}

/** What {@link runDemo} found. */
export interface DemoResult {
  keys: number;
  snapshotVersion: number;
  snapshotKeys: number;
  snapshotBytes: number;
  snapshotMs: number;
  /** Puts the store answered while its child was still writing the snapshot. */
  putsDuringSnapshot: number;
  /** Puts made after the fork point, in all. */
  putsAfterFork: number;
  /** The file holds exactly the state at the fork point. */
  snapshotMatchesForkPoint: boolean;
  /** The store holds every later put (overwrites, new keys, deletes). */
  storeHasLaterPuts: boolean;
  medianPutUs: number;
}

/**
 * Loads `keys` keys, snapshots into `file` and, while the snapshot is written, makes
 * `puts` more changes (overwrites, new keys, deletes). Checks the snapshot against the
 * state at the fork point and the store against the final state.
 */
export async function runDemo(options: {
  keys: number;
  puts: number;
  file: string;
  host?: Host;
  log?: (line: string) => void;
}): Promise<DemoResult> {
  const store = await KvStore.open({ host: options.host, log: options.log });
  try {
    const mirror = new Map<string, Buffer>(); // what the store holds, kept by the host
    const value = (i: number, gen: number) => Buffer.from(`{"id":${i},"gen":${gen},"pad":"${randomBytes(24).toString('base64')}"}`);
    const loads: Promise<number>[] = [];
    for (let i = 0; i < options.keys; i++) {
      const v = value(i, 0);
      mirror.set(`user:${i}`, v);
      loads.push(store.put(`user:${i}`, v));
    }
    await Promise.all(loads);

    const snap = await store.snapshot(options.file);
    const atFork = new Map(mirror);
    let writing = true;
    void snap.written.finally(() => (writing = false)).catch(() => {});

    // Keep changing the store while the child writes the snapshot out.
    let during = 0;
    const putTimes: number[] = [];
    let changes = 0;
    for (let i = 0; i < options.puts; i++) {
      const t0 = performance.now();
      if (i % 10 === 9) {
        const key = `user:${(i * 7) % options.keys}`;
        const existed = await store.delete(key);
        if (existed !== mirror.delete(key)) throw new Error(`delete ${key}: the store and the host disagree`);
        if (existed) changes++;
      } else {
        const key = i % 3 === 0 ? `new:${i}` : `user:${(i * 13) % options.keys}`;
        const v = value(i, 1);
        await store.put(key, v);
        mirror.set(key, v);
        changes++;
      }
      putTimes.push((performance.now() - t0) * 1000);
      if (writing) during++;
    }
    const written = await snap.written;

    const { version, entries } = readSnapshot(written.file);
    const same = (a: Map<string, Buffer>, b: Map<string, Buffer>) =>
      a.size === b.size && [...a].every(([k, v]) => b.get(k)?.equals(v));
    const now = await store.count();
    let storeHasLaterPuts = now.keys === mirror.size && now.version === snap.version + changes;
    for (const [k, v] of [...mirror].filter((_, i) => i % 97 === 0)) {
      storeHasLaterPuts &&= (await store.get(k))?.equals(v) ?? false;
    }
    putTimes.sort((a, b) => a - b);
    return {
      keys: options.keys,
      snapshotVersion: version,
      snapshotKeys: entries.size,
      snapshotBytes: written.bytes,
      snapshotMs: written.ms,
      putsDuringSnapshot: during,
      putsAfterFork: options.puts,
      snapshotMatchesForkPoint: version === snap.version && same(entries, atFork) && !same(entries, mirror),
      storeHasLaterPuts,
      medianPutUs: putTimes[putTimes.length >> 1] ?? NaN,
    };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { keys: { type: 'string', default: '20000' }, puts: { type: 'string', default: '5000' }, out: { type: 'string' } },
  });
  const dir = values.out ? undefined : mkdtempSync(join(tmpdir(), 'pvm-snapshot-'));
  const file = values.out ?? join(dir!, 'store.snapshot');
  try {
    const r = await runDemo({ keys: Number(values.keys), puts: Number(values.puts), file, log: (l) => console.log(`  ${l}`) });
    console.log(`loaded ${r.keys} keys; snapshot at version ${r.snapshotVersion}: ${r.snapshotKeys} keys, ${r.snapshotBytes} bytes in ${r.snapshotMs.toFixed(1)} ms → ${file}`);
    console.log(`the store answered ${r.putsDuringSnapshot} of ${r.putsAfterFork} later changes while its child was writing the snapshot (median ${r.medianPutUs.toFixed(0)} µs each)`);
    console.log(`snapshot = state at the fork point: ${r.snapshotMatchesForkPoint}; store = state after every change: ${r.storeHasLaterPuts}`);
    if (!r.snapshotMatchesForkPoint || !r.storeHasLaterPuts) process.exitCode = 1;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof PvmError ? `${err.code}: ${err.message}` : err);
    process.exitCode = 1;
  });
}
