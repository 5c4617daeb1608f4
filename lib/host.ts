/**
 * The host: owns the monitors of every pVM it spawned.
 * @module
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { ARGS_SIZE } from './abi.js';
import { PvmError } from './errors.js';
import { parseMemory, type MemorySize } from './memory.js';
import { loadAddon, type MonitorEvent, type NativeHost } from './native.js';
import { monitorPath } from './paths.js';
import { Pvm, type ConsoleMode } from './pvm.js';

/** Which virtualization backend runs the pVMs. */
export type Backend = 'kvm';

/** Options of {@link Host.open}. */
export interface HostOptions {
  /** `'auto'` (default) picks the best backend available; only `'kvm'` exists yet. */
  backend?: 'auto' | Backend;
}

/** Options of {@link Host.spawn}. */
export interface SpawnOptions {
  /** Guest RAM: bytes, or a string such as `'64MiB'`. Default 64 MiB. */
  memory?: MemorySize;
  /** Arguments the guest's `main(argc, argv)` receives after argv[0] (the image path). */
  args?: readonly string[];
  /** Where console output goes. Default `'pipe'` ({@link Pvm.console}). */
  console?: ConsoleMode;
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
  #nextId = 1;
  #closed = false;
  #refed = false;

  private constructor(backend: Backend) {
    this.backend = backend;
    this.#native = new (loadAddon().NativeHost)(monitorPath, (events) => this.#dispatch(events));
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
    return new Host('kvm');
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

    const imageFd = openImage(image);
    let pvm: Pvm;
    try {
      this.#checkOpen();
      const id = this.#nextId++;
      pvm = new Pvm({ id, parent: null, native: this.#native, consoleMode, spawnNs, onEnded: (p) => this.#ended(p) });
      this.#pvms.set(id, pvm);
      this.#updateRef();
      try {
        this.#native.spawn(id, { parentId: 0, ramSize, spawnNs, imageFd, args });
      } catch (err) {
        this.#pvms.delete(id);
        this.#updateRef();
        const e = err as NodeJS.ErrnoException;
        throw new PvmError(e.code === 'E2BIG' ? 'E2BIG' : 'EMONITOR', e.message, { errno: e.errno, cause: err });
      }
    } finally {
      closeSync(imageFd); // the monitor holds its own copy of the fd by now
    }
    await pvm._booted();
    return pvm;
  }

  /** Ends every pVM of the host and releases the host. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const live = this.list();
    for (const pvm of live) pvm.kill();
    await Promise.all(live.map((p) => p.exited));
    this.#native.close();
  }

  /** Same as {@link Host.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new PvmError('ECLOSED', 'the host is closed');
  }

  #dispatch(events: MonitorEvent[]): void {
    for (const ev of events) this.#pvms.get(ev.id)?._handle(ev);
  }

  #ended(pvm: Pvm): void {
    this.#pvms.delete(pvm.id);
    pvm.parent?.children.delete(pvm);
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

// Synchronous on purpose: a local open + fstat takes microseconds, two trips through
// libuv's thread pool can take milliseconds, and spawn latency is what users measure.
function openImage(image: string): number {
  let fd: number;
  try {
    fd = openSync(image, 'r');
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
