/**
 * The host: owns the monitors of every pVM it spawned.
 * @module
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { ARGS_SIZE, GuestErrno, guestErrnoName, NO_CHANNEL } from './abi.js';
import { PvmError } from './errors.js';
import { parseMemory, type MemorySize } from './memory.js';
import { loadAddon, type MonitorEvent, type NativeHost } from './native.js';
import { guestDir, monitorPath } from './paths.js';
import { Channel } from './channel.js';
import { BOOT_ERROR_CODES, wireErrorCode } from './generated/control.js';
import {
  Pvm,
  type ConsoleMode,
  type ExecInfo,
  type ExecOptions,
  type ForkInfo,
  type ForkResult,
  type ForkOptions,
} from './pvm.js';

/** Which virtualization backend runs the pVMs. */
export type Backend = 'kvm';

/** Options of {@link Host.open}. */
export interface HostOptions {
  /** `'auto'` (default) picks the best backend available; only `'kvm'` exists yet. */
  backend?: 'auto' | Backend;
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
  /** The backend in use. */
  readonly backend: Backend;
  #native: NativeHost;
  #pvms = new Map<number, Pvm>();
  #channels = new Map<number, Channel>();
  // Host channels by the pVM at their other end, to close them when it ends.
  #hostChannels = new Map<number, Set<number>>();
  // Requests waiting for a monitor's answer, by tag; each names the pVM it waits on, so
  // that pVM's end fails it (#failPending) without a reaction per request on `exited`.
  #forks = new Map<
    number,
    { resolve: (r: ForkResult) => void; reject: (e: PvmError) => void; parent: Pvm; console?: ConsoleMode }
  >();
  #nextForkTag = 1;
  #attaches = new Map<
    number,
    { slots: Map<number, number>; waiting: number; to: Pvm[]; done: (e?: PvmError) => void }
  >();
  #consoleModes = new WeakMap<Pvm, ConsoleMode>();
  #closed = false;
  #refed = false;

  #imagePath: string[];
  #spawnPool: number;
  #spawnPoolMemory: number;
  #forkSpares = false;
  #maxPvms: number;
  #pooled = 0;
  #refill: NodeJS.Immediate | null = null;
  // The image each pVM runs (a guest's EXEC searches its directory first).
  #images = new Map<number, string>();
  #execs = new Map<number, { resolve: (e: ExecInfo) => void; reject: (e: PvmError) => void; image: string; pvm: Pvm }>();
  #guestExecs = new Map<number, string>(); // pVM id -> image a guest asked for, until it runs

  private constructor(
    backend: Backend,
    imagePath: readonly string[],
    spawnPool: number,
    spawnPoolMemory: number,
    maxPvms: number,
  ) {
    this.backend = backend;
    this.#maxPvms = maxPvms;
    this.#imagePath = imagePath.map((d) => resolve(d));
    this.#spawnPool = spawnPool;
    this.#spawnPoolMemory = spawnPoolMemory;
    this.#native = new (loadAddon().NativeHost)(monitorPath, (events) => this.#dispatch(events), maxPvms);
  }

  /** Opens a host. Rejects with `ENOKVM` when no backend can run here. */
  static async open(options: HostOptions = {}): Promise<Host> {
    const backend = options.backend ?? 'auto';
    if (backend !== 'auto' && backend !== 'kvm') {
      throw new PvmError('EINVAL', `backend: unknown backend ${JSON.stringify(backend)} (available: 'auto', 'kvm')`);
    }
    const probe = loadAddon().probeKvm();
    if (!probe.ok) {
      throw new PvmError('ENOKVM', `no usable KVM: ${probe.message ?? 'unknown reason'}`, { errno: probe.errno || undefined });
    }
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
    const host = new Host('kvm', imagePath, spawnPool, parseMemory(options.spawnPoolMemory), maxPvms);
    host.#forkSpares = options.forkSpares ?? false;
    host.#fillPool();
    return host;
  }

  /** True once {@link Host.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Every pVM of this host that has not ended. */
  list(): Pvm[] {
    return [...this.#pvms.values()];
  }

  /** The pVM with this id. Throws `ESRCH` if there is none (or it has ended). */
  get(id: number): Pvm {
    const pvm = this.#pvms.get(id);
    if (!pvm) throw new PvmError('ESRCH', `no pVM with id ${id}`);
    return pvm;
  }

  /**
   * Boots a pVM from a guest image (a static ELF64 built with the pvm runtime) and
   * resolves once it is about to run its first instruction.
   * Rejects with `ENOENT`, `EBADIMAGE`, `EIMAGETOOLARGE`, `EINVAL`, `E2BIG`, `ENOMEM`,
   * `ECLOSED`; nothing is left running when it rejects.
   */
  async spawn(image: string, options: SpawnOptions = {}): Promise<Pvm> {
    const spawnNs = process.hrtime.bigint();
    this.#checkOpen();
    if (typeof image !== 'string' || image === '') throw new PvmError('EINVAL', 'image: expected a file path');
    const ramSize = parseMemory(options.memory);
    const args = checkArgs(image, options.args ?? []);
    const consoleMode = options.console ?? 'pipe';
    if (!['pipe', 'inherit', 'ignore'].includes(consoleMode)) {
      throw new PvmError('EINVAL', `console: expected 'pipe', 'inherit' or 'ignore'`);
    }

    if (this.#native.livePvms() >= this.#maxPvms) {
      throw new PvmError('EAGAIN', `the host runs ${this.#maxPvms} pVMs, its maxPvms`);
    }
    const imageFd = openImage(image);
    let pvm: Pvm;
    try {
      this.#checkOpen();
      const id = this.#native.allocateId();
      pvm = this.#newPvm(id, null, consoleMode, spawnNs);
      this.#images.set(id, resolve(image));
      this.#updateRef();
      try {
        this.#native.spawn(id, { parentId: 0, ramSize, spawnNs, imageFd, args, pool: options.pool ?? true,
          forkSpares: options.forkSpares ?? this.#forkSpares,
        });
        if (this.#pooled > 0 && options.pool !== false) this.#pooled--;
      } catch (err) {
        this.#pvms.delete(id);
        this.#updateRef();
        const e = err as NodeJS.ErrnoException;
        throw new PvmError(e.code === 'E2BIG' ? 'E2BIG' : 'EMONITOR', e.message, { errno: e.errno, cause: err });
      }
    } finally {
      closeSync(imageFd); // the monitor holds its own copy of the fd by now
    }
    try {
      await pvm._booted();
    } finally {
      // Refill the pool once this pVM is up, not while it boots (they would share CPUs).
      this.#scheduleRefill();
    }
    return pvm;
  }

  /**
   * A new channel between the host and `pvm` (any pVM of this host). The guest finds
   * it in its channel table (`pvm_channel_accept()`); a WAIT in progress returns.
   * Rejects with `ESRCH` (the pVM has ended) or `EAGAIN` (no free channel slot).
   */
  async channel(pvm: Pvm): Promise<Channel> {
    this.#checkOpen();
    this.#checkMine(pvm);
    const tag = this.#nextForkTag++;
    const made = handOut(() => this.#native.connect(tag, 0, pvm.id), [pvm]);
    if (!made.memory) throw new PvmError('ENOMEM', 'cannot map the channel');
    const channel = new Channel({ id: made.channel, memory: made.memory, side: 'A', native: this.#native });
    this.#channels.set(channel.id, channel);
    this.#channelsOf(pvm).add(channel.id);
    try {
      await this.#attached(tag, [pvm]);
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
    this.#checkMine(a);
    this.#checkMine(b);
    if (a === b || !(descends(a, b) || descends(b, a))) {
      throw new PvmError('EPERM', `pVMs ${a.id} and ${b.id} are not of one family (neither descends from the other)`);
    }
    const tag = this.#nextForkTag++;
    handOut(() => this.#native.connect(tag, a.id, b.id), [a, b]);
    const slots = await this.#attached(tag, [a, b]);
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
    this.#checkMine(pvm);
    if (!Number.isInteger(size) || size <= 0 || size > CHANNEL_SLOT_SIZE) {
      throw new PvmError('EINVAL', `size: expected 1..${CHANNEL_SLOT_SIZE} bytes`);
    }
    const tag = this.#nextForkTag++;
    const memory = handOut(() => this.#native.share(tag, pvm.id, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE), [pvm]);
    if (!memory) throw new PvmError('ENOMEM', 'cannot map the region');
    const slots = await this.#attached(tag, [pvm]);
    return { memory, slot: slots.get(pvm.id)! };
  }

  /** What the host holds: running pVMs, and monitors waiting in the spawn pool. */
  stats(): HostStats {
    const pids = this.#closed ? [] : this.#native.poolPids();
    const spares = this.list()
      .map((p) => p.sparePid)
      .filter((pid) => pid > 0);
    return {
      pvms: this.#pvms.size,
      pooledMonitors: pids.length,
      pooledKiB: pids.reduce((n, pid) => n + smapsKiB(pid, 'Rss'), 0),
      spares: spares.length,
      sparesKiB: spares.reduce((n, pid) => n + smapsKiB(pid, 'Private_Dirty'), 0),
    };
  }

  // Starting monitors costs ~1 ms of this thread each: never inside a spawn() call.
  #scheduleRefill(): void {
    if (this.#refill || this.#closed || this.#pooled >= this.#spawnPool) return;
    this.#refill = setImmediate(() => {
      this.#refill = null;
      this.#fillPool();
    });
    this.#refill.unref();
  }

  #fillPool(): void {
    if (this.#closed || this.#spawnPool === 0) return;
    try {
      this.#pooled = this.#native.prestart(this.#spawnPool, this.#spawnPoolMemory);
    } catch {
      // Out of processes or memory: spawn starts monitors itself.
    }
  }

  /** Ends every pVM of the host and releases the host. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#refill) clearImmediate(this.#refill);
    // pVMs can still appear while this runs (a fork answered meanwhile): until none left.
    for (let live = this.list(); live.length > 0; live = this.list()) {
      for (const pvm of live) pvm.kill('SIGKILL');
      await Promise.all(live.map((p) => p.exited));
    }
    this.#native.close();
  }

  /** Same as {@link Host.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new PvmError('ECLOSED', 'the host is closed');
  }

  #exec(pvm: Pvm, image: string, options: ExecOptions): Promise<ExecInfo> {
    try {
      this.#checkOpen();
      if (typeof image !== 'string' || image === '') throw new PvmError('EINVAL', 'image: expected a file path');
      const ramSize = options.memory === undefined ? 0 : parseMemory(options.memory);
      const args = checkArgs(image, options.args ?? []);
      const imageFd = openImage(image);
      const tag = this.#nextForkTag++;
      try {
        if (!this.#native.exec(pvm.id, tag, { ramSize, imageFd, args })) {
          throw new PvmError('ESRCH', `pVM ${pvm.id} has ended`);
        }
      } catch (err) {
        if (err instanceof PvmError) throw err;
        const e = err as NodeJS.ErrnoException;
        throw new PvmError(e.code === 'E2BIG' ? 'E2BIG' : 'EMONITOR', e.message, { cause: err });
      } finally {
        closeSync(imageFd); // the monitor has its own copy
      }
      return new Promise((resolve_, reject) => {
        this.#execs.set(tag, { resolve: resolve_, reject, image: resolve(image), pvm });
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // A guest's EXEC names an image: look for it where this host allows, send it or ENOENT.
  #onExecRequest(ev: Extract<MonitorEvent, { type: 'exec-request' }>): void {
    const name = ev.strings[0] ?? '';
    const own = this.#images.get(ev.id);
    const dirs = own ? [dirname(own), ...this.#imagePath] : this.#imagePath;
    let fd = -GuestErrno.ENOENT; // a wire errno (control.json errors)
    if (/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name)) {
      for (const candidate of dirs.flatMap((d) => [join(d, name), join(d, `${name}.pvm`)])) {
        try {
          fd = openImage(candidate);
          this.#guestExecs.set(ev.id, candidate);
          break;
        } catch (err) {
          // Not here: the next directory. There but not an image (a FIFO, a device): ENOEXEC.
          if ((err as PvmError).code === 'EBADIMAGE') {
            fd = -GuestErrno.ENOEXEC;
            break;
          }
        }
      }
    }
    this.#native.execImage(ev.id, fd);
    if (fd >= 0) closeSync(fd);
  }

  #onExeced(ev: Extract<MonitorEvent, { type: 'execed' }>): void {
    const pvm = this.#pvms.get(ev.id);
    const pending = ev.tag ? this.#execs.get(ev.tag) : undefined;
    if (ev.tag) this.#execs.delete(ev.tag);
    const guestImage = this.#guestExecs.get(ev.id);
    this.#guestExecs.delete(ev.id);
    if (ev.error !== 0) {
      const code = wireErrorCode(ev.error) === 'E2BIG' ? 'E2BIG' : BOOT_ERROR_CODES[ev.code];
      pending?.reject(new PvmError(code, ev.message || `exec failed: ${guestErrnoName(ev.error)}`));
      return;
    }
    const image = pending?.image ?? guestImage ?? '';
    if (image) this.#images.set(ev.id, image);
    const info: ExecInfo = { image, replaceUs: Number(ev.readyNs - ev.startNs) / 1e3 };
    pending?.resolve(info);
    pvm?.emit('exec', info);
  }

  #checkMine(pvm: Pvm): void {
    if (this.#pvms.get(pvm.id) !== pvm) throw new PvmError('ESRCH', `pVM ${pvm.id} is not running on this host`);
  }

  #channelsOf(pvm: Pvm): Set<number> {
    let set = this.#hostChannels.get(pvm.id);
    if (!set) this.#hostChannels.set(pvm.id, (set = new Set()));
    return set;
  }

  // Waits for every pVM in `to` to answer an attach request.
  #attached(tag: number, to: Pvm[]): Promise<Map<number, number>> {
    return new Promise((resolve, reject) => {
      const slots = new Map<number, number>();
      const entry = {
        slots,
        waiting: to.length,
        to,
        done: (e?: PvmError) => {
          this.#attaches.delete(tag);
          if (e) reject(e);
          else resolve(slots);
        },
      };
      this.#attaches.set(tag, entry);
    });
  }

  #onAttached(ev: Extract<MonitorEvent, { type: 'attached' }>): void {
    const entry = this.#attaches.get(ev.tag);
    if (!entry) return;
    if (ev.error !== 0) {
      const code = wireErrorCode(ev.error) === 'EAGAIN' ? 'EAGAIN' : 'ENOMEM';
      entry.done(new PvmError(code, `pVM ${ev.id} could not take the channel: errno ${-ev.error}`, { errno: -ev.error }));
      return;
    }
    entry.slots.set(ev.id, ev.slot);
    if (--entry.waiting === 0) entry.done();
  }

  #newPvm(id: number, parent: Pvm | null, consoleMode: ConsoleMode, spawnNs: bigint): Pvm {
    const pvm = new Pvm({
      id,
      parent,
      native: this.#native,
      consoleMode,
      spawnNs,
      onEnded: (p) => this.#ended(p),
      livePvms: () => this.#pvms.values(),
      requestFork: (p, options) => this.#fork(p, options),
      requestExec: (p, image, options) => this.#exec(p, image, options),
    });
    this.#consoleModes.set(pvm, consoleMode);
    this.#pvms.set(id, pvm);
    parent?.children.add(pvm);
    this.#updateRef();
    return pvm;
  }

  #fork(parent: Pvm, options: ForkOptions): Promise<ForkResult> {
    if (this.#closed) return Promise.reject(new PvmError('ECLOSED', 'the host is closed'));
    const tag = this.#nextForkTag++;
    return new Promise((resolve, reject) => {
      if (!this.#native.fork(parent.id, tag)) {
        reject(new PvmError('ESRCH', `pVM ${parent.id} has ended`));
        return;
      }
      this.#forks.set(tag, { resolve, reject, parent, console: options.console }); // a parent that ends fails it: #failPending
    });
  }

  #dispatch(events: MonitorEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'forked') this.#forked(ev);
      else if (ev.type === 'doorbell') this.#channels.get(ev.id)?._wake();
      else if (ev.type === 'attached') this.#onAttached(ev);
      else if (ev.type === 'exec-request') this.#onExecRequest(ev);
      else if (ev.type === 'execed') this.#onExeced(ev);
      else this.#pvms.get(ev.id)?._handle(ev);
    }
  }

  #forked(ev: Extract<MonitorEvent, { type: 'forked' }>): void {
    const pending = ev.tag ? this.#forks.get(ev.tag) : undefined;
    if (ev.tag) this.#forks.delete(ev.tag);
    const parent = this.#pvms.get(ev.id);
    if (ev.error === 0 && (this.#closed || !parent)) {
      // The host is closing (or the parent is gone): the child is not wanted.
      this.#native.signal(ev.childId, osConstants.signals.SIGKILL);
      if (ev.channel) this.#native.channelClose(ev.childId);
      pending?.reject(new PvmError(this.#closed ? 'ECLOSED' : 'ESRCH', `fork of pVM ${ev.id} ended with the host`));
      return;
    }
    if (ev.error !== 0 || !parent) {
      // A guest's failed fork is the guest's to handle: FORK returned the error.
      const code = wireErrorCode(ev.error) === 'EAGAIN' ? 'EAGAIN' : 'ENOMEM';
      pending?.reject(new PvmError(code, `fork of pVM ${ev.id} failed: errno ${-ev.error}`, { errno: -ev.error }));
      return;
    }
    const consoleMode = pending?.console ?? this.#consoleModes.get(parent) ?? 'pipe';
    const child = this.#newPvm(ev.childId, parent, consoleMode, ev.pauseStartNs);
    const parentImage = this.#images.get(parent.id);
    if (parentImage) this.#images.set(child.id, parentImage);
    let channel: Channel | undefined;
    if (ev.channel) {
      channel = new Channel({ id: ev.childId, memory: ev.channel, side: 'A', native: this.#native });
      this.#channels.set(channel.id, channel);
      this.#channelsOf(child).add(channel.id);
    }
    const parentPausedUs = Number(ev.resumeNs - ev.pauseStartNs) / 1e3;
    child._booted().then(
      () => {
        const info: ForkInfo = {
          child,
          parentPausedUs,
          childReadyUs: Number(child._vmReadyNs - ev.pauseStartNs) / 1e3,
          channelSlot: ev.channelSlot === NO_CHANNEL ? -1 : ev.channelSlot,
          viaSpare: ev.viaSpare,
          path: ev.path,
          copiedPages: ev.copiedPages,
        };
        if (pending && channel) pending.resolve({ ...info, channel });
        else if (pending) pending.reject(new PvmError('EMONITOR', 'the fork came back without a channel'));
        else parent.emit('fork', info);
      },
      (err: PvmError) => {
        channel?.close();
        pending?.reject(err);
      },
    );
  }

  // Fails what waits on a pVM that has ended. After the events being dispatched now: an
  // answer its monitor sent before it ended still counts.
  #failPending(pvm: Pvm): void {
    for (const [tag, f] of this.#forks) {
      if (f.parent !== pvm) continue;
      this.#forks.delete(tag);
      f.reject(new PvmError('ESRCH', `pVM ${pvm.id} ended before the fork was done`));
    }
    for (const [tag, e] of this.#execs) {
      if (e.pvm !== pvm) continue;
      this.#execs.delete(tag);
      e.reject(new PvmError('ESRCH', `pVM ${pvm.id} ended before the exec was done`));
    }
    for (const a of [...this.#attaches.values()]) {
      if (a.to.includes(pvm) && !a.slots.has(pvm.id)) {
        a.done(new PvmError('ESRCH', `pVM ${pvm.id} ended before it took the channel`));
      }
    }
  }

  #ended(pvm: Pvm): void {
    queueMicrotask(() => this.#failPending(pvm));
    this.#pvms.delete(pvm.id);
    this.#images.delete(pvm.id);
    this.#guestExecs.delete(pvm.id);
    pvm.parent?.children.delete(pvm);
    // Its channels to the host stay readable for what is left in them; doorbells go.
    for (const id of this.#hostChannels.get(pvm.id) ?? []) {
      this.#channels.get(id)?._peerGone();
      this.#channels.delete(id);
      this.#native.channelClose(id);
    }
    this.#hostChannels.delete(pvm.id);
    this.#updateRef();
  }

  // Keep Node alive while pVMs run, as child processes do; not when none do.
  #updateRef(): void {
    const want = this.#pvms.size > 0;
    if (want === this.#refed) return;
    this.#refed = want;
    if (want) this.#native.ref();
    else this.#native.unref();
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

// Synchronous on purpose: a local open + fstat takes microseconds, two trips through
// libuv's thread pool can take milliseconds, and spawn latency is what users measure.
// O_NONBLOCK: a FIFO (or a device) would block the open itself; it gets EBADIMAGE below.
function openImage(image: string): number {
  let fd: number;
  try {
    fd = openSync(image, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new PvmError('ENOENT', `image not found: ${image}`, { path: image, errno: e.errno });
    throw new PvmError('EBADIMAGE', `cannot open image ${image}: ${e.message}`, { path: image, errno: e.errno, cause: err });
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new PvmError('EBADIMAGE', `image is not a regular file: ${image}`, { path: image });
  }
  return fd;
}

function checkArgs(image: string, args: readonly string[]): string[] {
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
    throw new PvmError('EINVAL', 'args: expected an array of strings');
  }
  const all = [image, ...args];
  if (all.some((a) => a.includes('\0'))) throw new PvmError('EINVAL', 'args: strings may not contain NUL');
  // Strings, their NULs and one 8-byte pointer each must fit the boot-info args area.
  const bytes = all.reduce((n, a) => n + Buffer.byteLength(a) + 1 + 8, 8);
  if (bytes > ARGS_SIZE) throw new PvmError('E2BIG', `args: ${bytes} bytes, the limit is ${ARGS_SIZE}`);
  return all;
}
