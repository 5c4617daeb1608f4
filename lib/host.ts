/**
 * The host: opens a backend, spawns pVMs on it and hands out channels to them. It is the
 * front: each pVM's events and pending requests live in its link (lib/link.ts), images
 * are found in lib/image.ts, pooled monitors in lib/spawn-pool.ts.
 * @module
 */
import { closeSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { Attach } from './attach.js';
import { chooseBackend, type Backend, type BackendChoice, type BackendInfo } from './backends.js';
import { Channel } from './channel.js';
import { PvmError } from './errors.js';
import { packFiles, type FilesOption } from './files.js';
import { checkArgs, openImage } from './image.js';
import { checkEnv, checkStdin, type StdinOption } from './stdio.js';
import { HostContext, PvmLink, orphanEvent } from './link.js';
import { parseMemory, type MemorySize } from './memory.js';
import { loadAddon, type MonitorEvent } from './native.js';
import { guestDir, monitorPath } from './paths.js';
import type { ConsoleMode, Pvm } from './pvm.js';
import { SpawnPool } from './spawn-pool.js';
import { openSnapshot } from './snapshot.js';

/** Options of {@link Host.open}. */
export interface HostOptions {
  /**
   * The backend to run pVMs on. `'auto'` takes the first that works here, in the order
   * {@link AUTO_ORDER} (kvm, xen, process). Default: the environment variable
   * `PVM_BACKEND` if set, else `'auto'`. `'kvm'` and `'process'` are built into this pvm so far.
   */
  backend?: BackendChoice;
  /**
   * Directories searched for the images guests name in their EXEC hypercall (bare file
   * names, with or without `.pvm`), after the directory of the pVM's own image. Default:
   * the package's built-in guests. Nothing outside them can be exec'd by a guest.
   */
  imagePath?: readonly string[];
  /**
   * How many monitors to keep started ahead of time, their VM and vCPU already built,
   * so `spawn()` only loads the image (default 0: none). Each waiting monitor holds a
   * process and a few MiB; see {@link Host.stats}.
   */
  spawnPool?: number;
  /** The guest RAM pooled monitors get ready in advance (default 64 MiB); a spawn with
   * another size still takes one, a little slower. */
  spawnPoolMemory?: MemorySize;
  /** Default of {@link SpawnOptions.forkSpares} (default false). */
  forkSpares?: boolean;
  /**
   * Most pVMs of this host running at once, forks by guests included (default 1024):
   * a spawn or fork beyond fails with `EAGAIN` (a guest's FORK with -PVM_EAGAIN), so a
   * fork bomb stops there.
   */
  maxPvms?: number;
}

/** What a host holds besides its running pVMs ({@link Host.stats}). */
export interface HostStats {
  /** pVMs running. */
  readonly pvms: number;
  /** Monitors started ahead of time and waiting in the spawn pool. */
  readonly pooledMonitors: number;
  /** Resident memory of the pooled monitors, in KiB. */
  readonly pooledKiB: number;
  /** Warm spares held by running pVMs. */
  readonly spares: number;
  /** Memory the spares hold on their own (Private_Dirty: copied or written pages), in KiB. */
  readonly sparesKiB: number;
}

/** Where a channel made by {@link Host.connect} appears in each guest. */
export interface ConnectedSlots {
  /** The channel slot in the first pVM (`pvm_channel_accept()` finds it). */
  readonly slotA: number;
  /** The channel slot in the second pVM. */
  readonly slotB: number;
}

/** Memory shared with a pVM by {@link Host.share}. */
export interface SharedRegion {
  /** The region, mapped into Node: writes are seen by the guest at once, and back. */
  readonly memory: ArrayBuffer;
  /** The slot the guest finds it in (`pvm_shm_accept()`, `pvm_channel_base(slot)`). */
  readonly slot: number;
}

/** Options of {@link Host.spawn}. */
export interface SpawnOptions {
  /** Guest RAM: bytes, or a string such as `'64MiB'`. Default 64 MiB. */
  memory?: MemorySize;
  /** Arguments the guest's `main(argc, argv)` receives after argv[0] (the image path). */
  args?: readonly string[];
  /** Where console output goes. Default `'pipe'` ({@link Pvm.console}). */
  console?: ConsoleMode;
  /** Take a monitor from the host's spawn pool if one waits (default true). */
  pool?: boolean;
  /**
   * Keep a warm spare for fast forks: a monitor forked ahead of time with its VM built;
   * a fork then copies only the pages written since (default: the host's `forkSpares`).
   * Costs a process per pVM, dirty logging on guest RAM, and the spare's copied pages.
   * Children inherit it.
   */
  forkSpares?: boolean;
  /**
   * Every fork child gets fresh entropy and a new generation number in its boot-info page
   * (the guest's `rand()` reseeds from them), so clones of one parent never draw the same
   * random numbers (default true). `false`: children keep the parent's, for
   * reproducible runs. Children inherit the setting. A pVM spawned from a snapshot is a
   * clone too: a new generation and fresh entropy, or with `false` the snapshot's.
   */
  uniqueClones?: boolean;
  /**
   * Files for a static Linux program (see "Running Linux programs" in the README):
   * `{ dir }` copies the host directory `dir` at spawn into a filesystem in the pVM's own
   * memory, whose `/` it becomes. The directory is only read, never written: what the
   * program writes stays in the pVM (a fork child gets a copy-on-write copy, an `execve`
   * keeps it). Directories and regular files are copied; symbolic links and special files
   * are left out, so no host path beyond `dir` is reachable. Without it a Linux program
   * starts with an empty `/` it may write to. A pvm image ignores it. Rejects with
   * `ENOENT` (no such directory), `EINVAL` (not a directory), `ENOMEM` (the files do not
   * fit in guest RAM beside the program with 1 MiB to spare).
   */
  files?: FilesOption;
  /**
   * The environment of a static Linux program (its `envp`, `getenv()`): exactly these
   * variables, in this order. Without it the program gets `PATH=/bin:/usr/bin`, `HOME=/`,
   * `TERM=dumb`. Names must be non-empty and hold no `=` or NUL, values no NUL (`EINVAL`);
   * with `args` they must fit the 60 KiB arguments area (`E2BIG`). An exec by the host
   * ({@link Pvm.exec}) keeps it; an `execve` in the guest passes what it is given. A pvm
   * image finds it in its boot-info page (`envp`/`envc`, `PVM_BOOT_FLAG_ENV`).
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Standard input (fd 0 of a static Linux program; `pvm_hc_STDIN_READ` for a pvm
   * image). A string or buffer: those bytes, then end of file (at most 64 MiB: `E2BIG`).
   * `'pipe'`: what the host writes to {@link Pvm.stdin}, end of file after its `end()`.
   * Without it, fd 0 is at end of file. See "Running Linux programs" in the README for
   * forks.
   */
  stdin?: StdinOption;
}

/**
 * Options of {@link Host.spawn} from a snapshot ({@link Pvm.snapshot}): the file, and the
 * spawn options that do not come from it (guest RAM and arguments do).
 */
export interface SnapshotSpawnOptions extends Omit<SpawnOptions, 'memory' | 'args' | 'files' | 'env'> {
  /** The snapshot file to start from. */
  snapshot: string;
}

/**
 * Entry point of the library. Open a host, spawn pVMs from it, close it when done
 * (closing ends every pVM it still has).
 *
 * ```ts
 * await using host = await Host.open();
 * const pvm = await host.spawn('hello.pvm', { memory: '32MiB', args: ['world'] });
 * pvm.console.pipe(process.stdout);
 * console.log(await pvm.exited); // { kind: 'exit', code: 0 }
 * ```
 */
export class Host {
  #ctx: HostContext;
  #pool: SpawnPool;
  #forkSpares: boolean;
  #maxPvms: number;

  private constructor(backend: BackendInfo, imagePath: readonly string[], pool: { size: number; memory: number }, forkSpares: boolean, maxPvms: number) {
    this.#maxPvms = maxPvms;
    this.#forkSpares = forkSpares;
    const native = new (loadAddon().NativeHost)(monitorPath, (events) => this.#dispatch(events), maxPvms, backend.name);
    this.#ctx = new HostContext(native, backend, imagePath.map((d) => resolve(d)));
    this.#pool = new SpawnPool(native, pool.size, pool.memory);
  }

  /**
   * Opens a host on a backend ({@link HostOptions.backend}). Rejects with `ENOKVM` when
   * `'kvm'` was asked for and cannot run, `ENOBACKEND` when no backend (`'auto'`) or not
   * the one asked for can run here, saying what each answered, `EINVAL` for an unknown
   * backend name or a bad option.
   */
  static async open(options: HostOptions = {}): Promise<Host> {
    const fromEnv = options.backend === undefined && !!process.env.PVM_BACKEND;
    const requested = options.backend ?? (process.env.PVM_BACKEND || 'auto');
    const backend = chooseBackend(requested, fromEnv ? 'PVM_BACKEND' : 'backend', (name) => loadAddon().probeBackend(name));
    const imagePath = options.imagePath ?? [guestDir];
    if (!Array.isArray(imagePath) || imagePath.some((d) => typeof d !== 'string')) {
      throw new PvmError('EINVAL', 'imagePath: expected an array of directories');
    }
    const spawnPool = options.spawnPool ?? 0;
    if (!Number.isInteger(spawnPool) || spawnPool < 0 || spawnPool > 64) {
      throw new PvmError('EINVAL', 'spawnPool: expected an integer 0..64');
    }
    const maxPvms = options.maxPvms ?? 1024;
    if (!Number.isInteger(maxPvms) || maxPvms < 1) throw new PvmError('EINVAL', 'maxPvms: expected a positive integer');
    const pool = { size: spawnPool, memory: parseMemory(options.spawnPoolMemory) };
    const host = new Host(backend, imagePath, pool, options.forkSpares ?? false, maxPvms);
    host.#pool.fill();
    return host;
  }

  /** The backend this host runs pVMs on. */
  get backend(): Backend {
    return this.#ctx.backend.name;
  }

  /** What the backend said of itself when the host opened (on kvm: `backendInfo.kvm.flavour`). */
  get backendInfo(): BackendInfo {
    return this.#ctx.backend;
  }

  /** True once {@link Host.close} was called. */
  get closed(): boolean {
    return this.#ctx.closed;
  }

  /** Every pVM of this host that has not ended. */
  list(): Pvm[] {
    return [...this.#ctx.links.values()].map((l) => l.pvm);
  }

  /** The pVM with this id. Throws `ESRCH` if there is none (or it has ended). */
  get(id: number): Pvm {
    const link = this.#ctx.links.get(id);
    if (!link) throw new PvmError('ESRCH', `no pVM with id ${id}`);
    return link.pvm;
  }

  /**
   * Boots a pVM from a guest image (a static ELF64 built with the pvm runtime) and
   * resolves once it is about to run its first instruction.
   * Rejects with `ENOENT`, `EBADIMAGE`, `EIMAGETOOLARGE`, `EINVAL`, `E2BIG`, `ENOMEM`,
   * `ECLOSED`; nothing is left running when it rejects.
   *
   * `spawn({ snapshot: file, ...options })` starts a pVM from a snapshot file instead
   * ({@link Pvm.snapshot}): it goes on from where the snapshotted pVM was, with the same
   * RAM size, its RAM mapping the file copy-on-write (pVMs of one snapshot share its
   * pages until they write them). It is a fresh root pVM: a new id, no parent, no
   * channels or children; with fresh entropy and a new generation in its boot-info page
   * (the guest's `rand()` reseeds), unless `uniqueClones: false`, when it keeps the
   * snapshot's. Resolves once its vCPU is about to go on. Rejects with `ENOENT`,
   * `EBADSNAPSHOT` (with a `reason`: the file is foreign, of another format version,
   * truncated, corrupted, made on another backend or ABI, malformed or unreadable),
   * `ENOMEM`, `EINVAL` (`memory` or `args` given), `ECLOSED`, `EAGAIN`; nothing is left
   * running when it rejects.
   */
  async spawn(image: string, options?: SpawnOptions): Promise<Pvm>;
  async spawn(options: SnapshotSpawnOptions): Promise<Pvm>;
  async spawn(source: string | SnapshotSpawnOptions, maybeOptions: SpawnOptions = {}): Promise<Pvm> {
    const spawnNs = process.hrtime.bigint();
    this.#checkOpen();
    const fromSnapshot = typeof source === 'object' && source !== null;
    const options: SpawnOptions = fromSnapshot ? source : maybeOptions;
    if (fromSnapshot) {
      if (typeof source.snapshot !== 'string' || source.snapshot === '') throw new PvmError('EINVAL', 'snapshot: expected a file path');
      const given = source as SpawnOptions;
      if (given.memory !== undefined || given.args !== undefined) {
        throw new PvmError('EINVAL', 'a spawn from a snapshot takes its memory and args from the snapshot');
      }
    } else if (typeof source !== 'string' || source === '') {
      throw new PvmError('EINVAL', 'image: expected a file path');
    }
    const image = fromSnapshot ? source.snapshot : source;
    const ramSize = fromSnapshot ? 0 : parseMemory(options.memory);
    const args = fromSnapshot ? [] : checkArgs(image, options.args ?? []);
    const env = fromSnapshot ? undefined : checkEnv(options.env, args);
    const stdin = checkStdin(options.stdin);
    const consoleMode: ConsoleMode = options.console ?? 'pipe';
    if (!['pipe', 'inherit', 'ignore'].includes(consoleMode)) {
      throw new PvmError('EINVAL', `console: expected 'pipe', 'inherit' or 'ignore'`);
    }

    const native = this.#ctx.native;
    if (native.livePvms() >= this.#maxPvms) {
      throw new PvmError('EAGAIN', `the host runs ${this.#maxPvms} pVMs, its maxPvms`);
    }
    const files = options.files === undefined || fromSnapshot ? undefined : await packFiles(options.files);
    const opened = fromSnapshot ? await openSnapshot(image) : { fd: await openImage(image), image };
    const imageFd = opened.fd;
    let link: PvmLink;
    try {
      this.#checkOpen();
      link = new PvmLink(this.#ctx, native.allocateId(), null, consoleMode, spawnNs, {
        inputFromHost: stdin !== undefined,
        stdinStream: stdin === true,
      });
      link.image = opened.image ? resolve(opened.image) : undefined;
      try {
        native.spawn(link.pvm.id, { parentId: 0, ramSize, spawnNs, imageFd, args, pool: options.pool ?? true,
          forkSpares: options.forkSpares ?? this.#forkSpares, uniqueClones: options.uniqueClones ?? true,
          snapshot: fromSnapshot, files, env, stdin,
        });
        if (options.pool !== false) this.#pool.took();
      } catch (err) {
        link.discard();
        const e = err as NodeJS.ErrnoException;
        throw new PvmError(e.code === 'E2BIG' ? 'E2BIG' : 'EMONITOR', e.message, { errno: e.errno, cause: err });
      }
    } finally {
      closeSync(imageFd); // the monitor holds its own copy of the fd by now
    }
    try {
      await link.pvm._booted();
    } catch (err) {
      // host.close() ended it while it booted: that is what the caller must hear.
      if (this.#ctx.closed) throw new PvmError('ECLOSED', 'the host was closed before the pVM booted', { cause: err });
      throw err;
    } finally {
      // Refill the pool once this pVM is up, not while it boots (they would share CPUs).
      this.#pool.scheduleRefill();
    }
    return link.pvm;
  }

  /**
   * A new channel between the host and `pvm` (any pVM of this host). The guest finds
   * it in its channel table (`pvm_channel_accept()`); a WAIT in progress returns.
   * Rejects with `ESRCH` (the pVM has ended) or `EAGAIN` (no free channel slot).
   */
  async channel(pvm: Pvm): Promise<Channel> {
    this.#checkOpen();
    const link = this.#linkOf(pvm);
    const tag = this.#ctx.nextTag();
    const made = handOut(() => this.#ctx.native.connect(tag, 0, pvm.id), [pvm]);
    if (!made.memory) throw new PvmError('ENOMEM', 'cannot map the channel');
    const channel = new Channel({ id: made.channel, memory: made.memory, side: 'A', native: this.#ctx.native });
    link.addChannel(channel);
    try {
      await this.#attach(tag, [link]);
    } catch (err) {
      channel.close();
      throw err;
    }
    return channel;
  }

  /**
   * A new channel between two pVMs of one family (one descends from the other): the
   * family rule holds for channels the host makes too (`EPERM` otherwise). Resolves with
   * the slot each guest finds it in. Rejects with `ESRCH` or `EAGAIN` (no free slot).
   */
  async connect(a: Pvm, b: Pvm): Promise<ConnectedSlots> {
    this.#checkOpen();
    const links = [this.#linkOf(a), this.#linkOf(b)];
    if (a === b || !(descends(a, b) || descends(b, a))) {
      throw new PvmError('EPERM', `pVMs ${a.id} and ${b.id} are not of one family (neither descends from the other)`);
    }
    const tag = this.#ctx.nextTag();
    handOut(() => this.#ctx.native.connect(tag, a.id, b.id), [a, b]);
    const slots = await this.#attach(tag, links);
    return { slotA: slots.get(a.id)!, slotB: slots.get(b.id)! };
  }

  /**
   * Memory shared between the host and `pvm`: `size` bytes (rounded up to pages, at most
   * 2 MiB), zeroed, as an ArrayBuffer here and at `pvm_channel_base(slot)` in the guest
   * (`pvm_shm_accept()` finds it). pVMs it forks afterwards share it too. Rejects with
   * `EINVAL`, `ESRCH`, `EAGAIN` (no free slot).
   */
  async share(pvm: Pvm, size: number): Promise<SharedRegion> {
    this.#checkOpen();
    const link = this.#linkOf(pvm);
    if (!Number.isInteger(size) || size <= 0 || size > CHANNEL_SLOT_SIZE) {
      throw new PvmError('EINVAL', `size: expected 1..${CHANNEL_SLOT_SIZE} bytes`);
    }
    const tag = this.#ctx.nextTag();
    const memory = handOut(() => this.#ctx.native.share(tag, pvm.id, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE), [pvm]);
    if (!memory) throw new PvmError('ENOMEM', 'cannot map the region');
    const slots = await this.#attach(tag, [link]);
    return { memory, slot: slots.get(pvm.id)! };
  }

  /** What the host holds: running pVMs, and monitors waiting in the spawn pool. */
  stats(): HostStats {
    const pids = this.#pool.pids();
    const spares = this.list()
      .map((p) => p.sparePid)
      .filter((pid) => pid > 0);
    return {
      pvms: this.#ctx.links.size,
      pooledMonitors: pids.length,
      pooledKiB: pids.reduce((n, pid) => n + smapsKiB(pid, 'Rss'), 0),
      spares: spares.length,
      sparesKiB: spares.reduce((n, pid) => n + smapsKiB(pid, 'Private_Dirty'), 0),
    };
  }

  /** Ends every pVM of the host and releases the host. Idempotent. */
  async close(): Promise<void> {
    if (this.#ctx.closed) return;
    this.#ctx.closed = true;
    this.#pool.close();
    // pVMs can still appear while this runs (a fork answered meanwhile): until none left.
    for (let live = this.list(); live.length > 0; live = this.list()) {
      for (const pvm of live) pvm.kill('SIGKILL');
      await Promise.all(live.map((p) => p.exited));
    }
    this.#ctx.native.close();
  }

  /** Same as {@link Host.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkOpen(): void {
    if (this.#ctx.closed) throw new PvmError('ECLOSED', 'the host is closed');
  }

  #linkOf(pvm: Pvm): PvmLink {
    const link = this.#ctx.links.get(pvm.id);
    if (link?.pvm !== pvm) throw new PvmError('ESRCH', `pVM ${pvm.id} is not running on this host`);
    return link;
  }

  // Waits for every pVM of `links` to answer the hand-out `tag`.
  #attach(tag: number, links: PvmLink[]): Promise<Map<number, number>> {
    const attach = new Attach(links.length);
    for (const link of links) link.expect(tag, attach);
    return attach.done;
  }

  #dispatch(events: MonitorEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'doorbell') {
        this.#ctx.channels.get(ev.id)?._wake();
        continue;
      }
      const link = this.#ctx.linkOf(ev.id);
      if (link) link.handle(ev);
      else orphanEvent(this.#ctx.native, ev);
    }
  }
}

const CHANNEL_SLOT_SIZE = abi.channel.SLOT_SIZE;
const PAGE_SIZE = abi.layout.PAGE_SIZE;

// A /proc/<pid>/smaps_rollup figure of a process in KiB (0 if it is gone).
function smapsKiB(pid: number, field: 'Rss' | 'Private_Dirty'): number {
  try {
    const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

// Sends a channel or region to the monitors of `to`. One that has just ended, before its
// end is dispatched here, refuses it (its socket is closed: ESRCH, EPIPE): the pVM has
// ended, as the caller is told when that end has been dispatched.
function handOut<T>(send: () => T, to: Pvm[]): T {
  try {
    return send();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ESRCH' || e.code === 'EPIPE' || e.code === 'ECONNRESET' || e.code === 'ECONNREFUSED') {
      throw new PvmError('ESRCH', `pVM ${to.map((p) => p.id).join(' or ')} has ended: ${e.message}`, { errno: e.errno, cause: err });
    }
    throw err;
  }
}

// True if `pvm` descends from `ancestor`.
function descends(pvm: Pvm, ancestor: Pvm): boolean {
  for (let p = pvm.parent; p; p = p.parent) if (p === ancestor) return true;
  return false;
}
