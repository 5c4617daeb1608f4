/**
 * A running pVM as the host sees it.
 * @module
 */
import { describeActivity, type PvmActivity } from './activity.js';
import { EventEmitter } from 'eventemitter3';
import { Readable, type Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import type { Channel } from './channel.js';
import type { MonitorEvent, NativeHost } from './native.js';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { PvmError } from './errors.js';
import { readyBackendInfo, type Backend, type BackendInfo } from './backends.js';
import { CONTROL_FLAGS } from './generated/control.js';
import { bootFailure, endStatus } from './ending.js';
import { stdinStream } from './stdio.js';
import type { ExitStatus } from './status.js';
import type { SnapshotInfo } from './snapshot.js';

/** Signals {@link Pvm.kill} sends. */
export type PvmSignalName = 'SIGTERM' | 'SIGKILL' | 'SIGUSR1' | 'SIGUSR2';

/** Events a {@link Pvm} emits. */
export interface PvmEvents {
  /** Console output of the guest, in the blocks the guest flushed. */
  console: (data: Buffer) => void;
  /** The pVM has ended. Emitted once. */
  exit: (status: ExitStatus) => void;
  /** The guest forked (FORK hypercall): the child runs. Not emitted for {@link Pvm.fork}. */
  fork: (fork: ForkInfo) => void;
  /** The pVM now runs a new image (its EXEC hypercall or {@link Pvm.exec}). */
  exec: (exec: ExecInfo) => void;
  /**
   * The guest's EXEC hypercall named an image the monitor refused after the host gave it
   * (e.g. `EABI`: built for another pvm ABI); the guest got -ENOEXEC (or the like) and
   * runs on. `error.path` is the image.
   */
  execError: (error: PvmError) => void;
  /** The pVM was rewound to its fork point ({@link Pvm.reset}, or its guest's `pvm_reset()`). */
  reset: (reset: ResetInfo) => void;
}

/** A reset as the host sees it ({@link Pvm.reset}). */
export interface ResetInfo {
  /** Pages (4 KiB) copied back from the fork point: those written since it (or the last reset). */
  readonly pages: number;
  /** How long the vCPU was stopped for the reset, in µs (measured by the monitor). */
  readonly resetUs: number;
}

/** An exec as the host sees it. */
export interface ExecInfo {
  /** The image file now running. */
  readonly image: string;
  /** How long the vCPU was stopped while the image was replaced, in µs. */
  readonly replaceUs: number;
}

/** Options of {@link Pvm.exec}. */
export interface ExecOptions {
  /** Arguments after argv[0] (the image path). */
  args?: readonly string[];
  /** New guest RAM (bytes or `'64MiB'`); default: the same as now. */
  memory?: number | string;
}

/** A fork as the host sees it, with the two latencies the monitors measured. */
export interface ForkInfo {
  /** The new pVM. */
  readonly child: Pvm;
  /** How long the parent's vCPU was stopped for the fork, in µs. */
  readonly parentPausedUs: number;
  /** From the parent's stop until the child's vCPU was ready to run its first instruction, in µs. */
  readonly childReadyUs: number;
  /** The slot of the parent-child channel in both guests; -1 if the guest forked without one. */
  readonly channelSlot: number;
  /** True when a warm spare became the child ({@link SpawnOptions.forkSpares}). */
  readonly viaSpare: boolean;
  /**
   * Why the fork went the way it did: `'spare'`, or why not: `'spares-off'`,
   * `'no-spare'` (none ready yet), `'too-dirty'` (too much written since the spare was
   * made), `'spare-failed'`. On xen: `'memshr'` where the hypervisor has memory sharing
   * (`xc_memshr_fork`: the parent's domain became a frozen template whose pages parent and
   * child share until either writes one), else `'copy'` (a new domain got a copy of the
   * parent's RAM and vCPU while the parent was paused).
   */
  readonly path: 'spare' | 'spares-off' | 'no-spare' | 'too-dirty' | 'spare-failed' | 'copy' | 'memshr';
  /** Pages (4 KiB) copied into the spare. */
  readonly copiedPages: number;
}

/** Options of {@link Pvm.fork}. */
export interface ForkOptions {
  /** Where the child's console goes (default: the parent's console mode). */
  console?: ConsoleMode;
}

/** What {@link Pvm.fork} resolves with. */
export interface ForkResult extends ForkInfo {
  /** The host's end of a channel to the child (the child finds its end as its fork channel). */
  readonly channel: Channel;
}

/** Monotonic timestamps (ns, `process.hrtime.bigint()` clock) of a pVM's start. */
export interface PvmTimings {
  /** When `spawn()` was called. */
  readonly spawnNs: bigint;
  /** When the monitor process reached its main(). */
  readonly monitorStartNs: bigint;
  /** When the VM, its memory, vCPU and image were ready to run. */
  readonly vmReadyNs: bigint;
  /** When the guest first came back to the monitor (it has run), if it has yet. */
  readonly firstExitNs?: bigint;
  /** When the guest ended, if it has. */
  readonly exitNs?: bigint;
}

/** Unread console bytes a Pvm buffers before its guest is held up (backpressure). */
const CONSOLE_BUFFER_BYTES = 1 << 20;

/** Where console output goes: a stream on the Pvm, the host's stdout, or nowhere. */
export type ConsoleMode = 'pipe' | 'inherit' | 'ignore';

/** @internal What a Pvm asks of the host, through its link (lib/link.ts). */
export interface PvmHostLink {
  fork(options: ForkOptions): Promise<ForkResult>;
  exec(image: string, options: ExecOptions): Promise<ExecInfo>;
  snapshot(file: string): Promise<SnapshotInfo>;
  reset(): Promise<ResetInfo>;
  /** The pVM has ended (called once). */
  ended(): void;
  /** Every pVM of the host that has not ended. */
  live(): Iterable<Pvm>;
  /** Its guest's forks whose `fork` event has not been emitted yet (their child boots). */
  forkEventsDue(): Promise<void>[];
  /** The host has been closed: what is asked of its pVMs now is `ECLOSED`. */
  readonly hostClosed: boolean;
}

/** @internal */
export interface PvmInit {
  id: number;
  parent: Pvm | null;
  native: NativeHost;
  consoleMode: ConsoleMode;
  spawnNs: bigint;
  /** The host's backend; the monitor's Ready message refines it. */
  backend: BackendInfo;
  link: PvmHostLink;
  /** Its standard input is written by the host ({@link Pvm.stdin}). */
  stdin?: boolean;
}

type Phase = 'booting' | 'running' | 'ended';

/**
 * A process-like VM. Get one from {@link Host.spawn}. It emits `console` and `exit`
 * events, its console is also a readable stream ({@link Pvm.console}), and
 * {@link Pvm.exited} resolves with how it ended.
 */
export class Pvm extends EventEmitter<PvmEvents> {
  /** Host-wide unique id of the pVM (the guest sees the same id). */
  readonly id: number;
  /** The pVM this one was forked from, or null for a spawned pVM. */
  readonly parent: Pvm | null;
  /** pVMs forked from this one that have not ended. */
  readonly children: Set<Pvm> = new Set();
  /**
   * Console output as a byte stream (console mode `'pipe'`, the default). The stream
   * ends when the pVM ends. It has backpressure: once 1 MiB is buffered unread (plus
   * what was already on its way, and no `console` listener takes the data), the guest
   * is held at its next console flush until the stream is read — so read it, or spawn
   * with `console: 'ignore'`. After {@link Pvm.kill} the rest is buffered whatever its
   * size.
   */
  readonly console: Readable;
  /** Resolves with how the pVM ended, once its monitor is gone. Never rejects. */
  readonly exited: Promise<ExitStatus>;
  /**
   * Its standard input, when the host writes it: a pVM spawned with `stdin: 'pipe'`, and
   * a child {@link Pvm.fork} made of a pVM spawned with any `stdin` option (its own,
   * empty at the fork). What is written is kept by the pVM's monitor, in order, until the
   * guest reads it (fd 0 of a Linux program); `end()` is end of file once that is read.
   * Writes after the pVM ended are dropped. null otherwise (the input is whole, or none).
   */
  readonly stdin: Writable | null;

  #native: NativeHost;
  #consoleMode: ConsoleMode;
  #phase: Phase = 'booting';
  #pid = 0;
  #backend: BackendInfo;
  #timings: { -readonly [K in keyof PvmTimings]: PvmTimings[K] };
  #exitMessage: Extract<MonitorEvent, { type: 'exit' }> | null = null;
  #bootError: Extract<MonitorEvent, { type: 'error' }> | null = null;
  #killedWith: NodeJS.Signals | null = null;
  #sparePid = 0;
  #controlClosed = false;
  #consolePaused = false;
  #consoleUnbounded = false;
  #processEnded: Extract<MonitorEvent, { type: 'ended' }> | null = null;
  #status: ExitStatus | null = null;
  /** True in the turn the monitor said Ready in: spawn()/fork() has not returned this Pvm yet. */
  #readyThisTurn = false;
  #resolveExited!: (status: ExitStatus) => void;
  #boot: { resolve: () => void; reject: (e: PvmError) => void } | null = null;
  #link: PvmHostLink;
  /** The image is a static Linux program (the monitor's Ready says). */
  #linuxProgram = false;
  /** A Linux program's forked process: where its console output goes (the spawned pVM's). */
  #consoleSink: Pvm | null = null;
  // Forked Linux processes writing to this console that have not ended: it ends after
  // them (as a pipe closes when its last writer does), so no output is lost when this
  // pVM's end reaches the host before theirs.
  #consoleWriters = 0;
  #consoleEnded = false;

  /** @internal */
  constructor(init: PvmInit) {
    super();
    this.id = init.id;
    this.parent = init.parent;
    this.#native = init.native;
    this.#consoleMode = init.consoleMode;
    this.#link = init.link;
    this.#backend = init.backend;
    this.#timings = { spawnNs: init.spawnNs, monitorStartNs: 0n, vmReadyNs: 0n };
    this.console = new Readable({
      highWaterMark: CONSOLE_BUFFER_BYTES,
      read: () => this.#pauseConsole(false),
    });
    if (init.consoleMode !== 'pipe') this.console.push(null);
    this.stdin = init.stdin ? stdinStream(init.native, init.id) : null;
    this.exited = new Promise((resolve) => (this.#resolveExited = resolve));
  }

  /** Process id of the pVM's monitor. */
  get pid(): number {
    return this.#pid;
  }

  /** True until the pVM has ended. */
  get running(): boolean {
    return this.#phase !== 'ended';
  }

  /**
   * What the pVM is doing now: running guest code, or blocked in a hypercall (on which
   * channel slots or child, since when); null once it has ended (or before it booted).
   * Read from the registry its monitor keeps up to date: a pVM that hangs says where.
   */
  get activity(): PvmActivity | null {
    if (this.#phase !== 'running') return null;
    const raw = this.#native.activity(this.id);
    return raw ? describeActivity(raw) : null;
  }

  /** How the pVM ended, or null while it runs. */
  get status(): ExitStatus | null {
    return this.#status;
  }

  /** pid of this pVM's warm spare, or 0 (see {@link SpawnOptions.forkSpares}). */
  get sparePid(): number {
    return this.#sparePid;
  }

  /** The backend this pVM runs on (its host's, {@link Host.backend}). */
  get backend(): Backend {
    return this.#backend.name;
  }

  /**
   * What its backend says of itself, as its monitor reported it: on kvm,
   * `backendInfo.kvm.flavour` is `'kvm_pvm'` or `'hardware'`.
   */
  get backendInfo(): BackendInfo {
    return this.#backend;
  }

  /** Start-up timestamps, for measurements. */
  get timings(): PvmTimings {
    return { ...this.#timings };
  }

  /** Waits for the pVM to end: the same as `await pvm.exited`. */
  wait(): Promise<ExitStatus> {
    return this.exited;
  }

  /**
   * Forks the pVM: its vCPU is paused while the monitor makes a copy-on-write clone
   * (pages are shared until either side writes them), then both run. Resolves with the
   * child and a channel between the host and the child, once the child is ready to run.
   * The child goes on from where the parent was, with its own id; a guest sees it was
   * forked by the host when `pvm_fork_channel()` becomes valid.
   * Rejects with `ESRCH` (the pVM has ended), `EAGAIN` (no channel slot left for the
   * child), `ENOMEM`, `ECLOSED` (the host was closed, before or while it ran), `EINVAL`
   * (bad options); the parent runs on either way.
   */
  fork(options: ForkOptions = {}): Promise<ForkResult> {
    if (this.#link.hostClosed) return Promise.reject(new PvmError('ECLOSED', 'the host is closed'));
    if (this.#phase !== 'running') {
      return Promise.reject(new PvmError('ESRCH', `pVM ${this.id} is not running`));
    }
    const mode = options.console;
    if (mode !== undefined && mode !== 'pipe' && mode !== 'inherit' && mode !== 'ignore') {
      return Promise.reject(new PvmError('EINVAL', `console: expected 'pipe', 'inherit' or 'ignore', got ${String(mode)}`));
    }
    return this.#link.fork(options);
  }

  /**
   * Replaces the pVM's image in place, like execve: the new image starts at its entry
   * point with the same id, parent, children, channels and shared regions; the old
   * image's memory is released. Resolves once the new image is about to run. Rejects
   * with `ENOENT`, `EBADIMAGE`, `EIMAGETOOLARGE`, `EINVAL`, `E2BIG`, `ENOMEM` (the old
   * image runs on, untouched), `ESRCH` or `ECLOSED` (the host was closed, before or while
   * it ran).
   */
  exec(image: string, options: ExecOptions = {}): Promise<ExecInfo> {
    if (this.#link.hostClosed) return Promise.reject(new PvmError('ECLOSED', 'the host is closed'));
    if (this.#phase !== 'running') {
      return Promise.reject(new PvmError('ESRCH', `pVM ${this.id} is not running`));
    }
    return this.#link.exec(image, options);
  }

  /**
   * Writes the pVM's state to `file`, from which {@link Host.spawn} with `{ snapshot: file }`
   * starts new pVMs that go on from this point: the pVM's RAM pages that are not zero, its
   * vCPU state, its RAM size and image path. The vCPU is paused only to save its state and
   * fork(2) the monitor (as {@link Pvm.fork} is); the forked copy writes `<file>.tmp` from
   * its copy-on-write RAM while the pVM runs on, and it is renamed to `file` once complete
   * (not fsync'ed). Resolves then.
   * Not kept: channels and shared regions, children, parent, pending signals, console
   * output not yet read by the host (the guest's console ring is, drained), the spawn
   * options (forkSpares, uniqueClones: the spawn from it says). A snapshot loads only on the
   * backend (and KVM flavour) and pvm ABI it was made on.
   * Rejects with `ESRCH` (the pVM has ended), `ECLOSED`, `EINVAL` (bad file name),
   * `EAGAIN` (a snapshot into the same file is being written by this host),
   * `ENOENT` (no such directory), `EPERM` (not allowed to create it), `ENOMEM` (the write
   * failed: disk full and the like, or the backend cannot save a vCPU; the message says);
   * the pVM runs on either way, and `<file>.tmp` is removed.
   */
  snapshot(file: string): Promise<SnapshotInfo> {
    if (this.#link.hostClosed) return Promise.reject(new PvmError('ECLOSED', 'the host is closed'));
    if (typeof file !== 'string' || file === '' || file.includes('\0')) {
      return Promise.reject(new PvmError('EINVAL', 'file: expected a file path'));
    }
    if (this.#phase !== 'running') {
      return Promise.reject(new PvmError('ESRCH', `pVM ${this.id} is not running`));
    }
    return this.#link.snapshot(file);
  }

  /**
   * Rewinds a forked pVM to its fork point, in place (no new monitor or VM): its guest
   * memory, vCPU registers and boot-info page become what they were when it was forked,
   * copying back only the pages written since (on kvm: the dirty log). It then gets fresh
   * entropy and a new generation, as a new fork child would (unless spawned with
   * `uniqueClones: false`), and runs on from its fork point: a guest that forked itself
   * sees its `pvm_fork()` return 0 again. Same id, same monitor.
   * - Its channel to the forker stays open, emptied of the messages it had not received;
   *   what it had sent stays for the forker to read.
   * - Channels and regions it got after the fork are closed; pVMs its guest forked after
   *   the fork are killed (pVMs the host forked from it are the host's and run on).
   * - Console output it wrote before the reset is delivered first.
   * Resolves once it runs again. Rejects with `ENOTFORK` (not a forked pVM, or it exec'ed
   * since its fork), `ENOSYS` (the backend cannot: the process backend), `ESRCH` (it has
   * ended), `ECLOSED` (the host was closed); the pVM runs on untouched then.
   * A guest can ask for the same with `pvm_reset()`; both emit `reset`.
   */
  reset(): Promise<ResetInfo> {
    if (this.#link.hostClosed) return Promise.reject(new PvmError('ECLOSED', 'the host is closed'));
    if (this.#phase !== 'running') {
      return Promise.reject(new PvmError('ESRCH', `pVM ${this.id} is not running`));
    }
    return this.#link.reset();
  }

  /**
   * Sends the pVM a signal. Returns false if it had already ended.
   * - `SIGTERM` (default) ends the guest at its next exit; pVMs forked from it run on.
   * - `SIGKILL` kills its monitor process at once, and with it every pVM forked from it
   *   (they die with their parent's monitor): each ends `{ kind: 'killed', signal: 'SIGKILL' }`.
   * - `SIGUSR1`, `SIGUSR2` are delivered to the guest: its blocking calls (channel
   *   receive, WAIT, WAITPID) return `-PVM_EINTR` and the runtime runs the handler the
   *   guest set with `pvm_signal()`.
   */
  kill(signal: PvmSignalName = 'SIGTERM'): boolean {
    if (this.#phase === 'ended' || this.#processEnded) return false;
    // A monitor held up by an unread console must be able to hear the signal and end.
    if (signal === 'SIGTERM' || signal === 'SIGKILL') {
      this.#consoleUnbounded = true;
      this.#pauseConsole(false);
    }
    if (signal === 'SIGUSR1' || signal === 'SIGUSR2') {
      return this.#native.signal(this.id, 0, abi.signals[signal === 'SIGUSR1' ? 'USR1' : 'USR2']);
    }
    if (signal !== 'SIGTERM' && signal !== 'SIGKILL') throw new PvmError('EINVAL', `kill: unknown signal ${String(signal)}`);
    const delivered = this.#native.signal(this.id, osConstants.signals[signal]);
    if (delivered && !this.#exitMessage && !this.#killedWith) this.#killedWith = signal;
    if (delivered && signal === 'SIGKILL') {
      // Every pVM forked from this one (by its guest or the host, and theirs in turn) runs
      // in a monitor forked from this one's, which takes it along (PR_SET_PDEATHSIG) with
      // no report: a kill, not a monitor that died of itself. Said so here, as a later
      // kill() of it may find it gone already (host.close()). Found by parent links, not
      // `children`: a pVM whose guest ended is no child any more, yet its monitor stays,
      // with its own children, while they run.
      for (const other of this.#link.live()) {
        if (other.#descendsFrom(this) && !other.#exitMessage && !other.#killedWith) other.#killedWith = 'SIGKILL';
      }
    }
    return delivered;
  }

  #descendsFrom(ancestor: Pvm): boolean {
    for (let p = this.parent; p; p = p.parent) if (p === ancestor) return true;
    return false;
  }

  #pauseConsole(paused: boolean): void {
    if (this.#consolePaused === paused || this.#phase === 'ended') return;
    this.#consolePaused = paused;
    this.#native.pauseControl(this.id, paused);
  }

  /** Kills the pVM (if it runs) and waits for it to end. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kill();
    await this.exited;
  }

  /** @internal True if the image is a static Linux program. */
  get _linuxProgram(): boolean {
    return this.#linuxProgram;
  }

  /** @internal An exec changed what the image is. */
  _setLinuxProgram(linux: boolean): void {
    this.#linuxProgram = linux;
  }

  /** @internal Where this pVM's console output ends up: its own, or the one it forwards to. */
  _consoleRoot(): Pvm {
    return this.#consoleSink ?? this;
  }

  /**
   * @internal A Linux program's forked process shares its parent's stdout, as on Linux:
   * its console output goes to `root`'s console stream while that is open.
   */
  _forwardConsoleTo(root: Pvm): void {
    this.#consoleSink = root;
    root.#consoleWriters++;
  }

  /** @internal Console output of a forked Linux process: false if this console is closed. */
  _takeForwarded(data: Buffer): boolean {
    if (this.#consoleEnded || this.#consoleMode !== 'pipe') return false;
    this.console.push(data);
    this.emit('console', data);
    return true;
  }

  /** @internal The `ready` timestamps (a forked child's vmReadyNs). */
  get _vmReadyNs(): bigint {
    return this.#timings.vmReadyNs;
  }

  /** @internal Resolves when the monitor is ready; rejects with the boot error. */
  _booted(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#phase !== 'booting') return resolve();
      this.#boot = { resolve, reject };
    });
  }

  /** @internal */
  _handle(ev: MonitorEvent): void {
    switch (ev.type) {
      case 'ready':
        this.#pid = ev.pid;
        this.#backend = readyBackendInfo(this.#backend, ev.backend, ev.backendFlags);
        this.#linuxProgram = (ev.imageFlags & CONTROL_FLAGS.kReadyLinux) !== 0;
        this.#timings.monitorStartNs = ev.monitorStartNs;
        this.#timings.vmReadyNs = ev.vmReadyNs;
        this.#phase = 'running';
        this.#readyThisTurn = true;
        setImmediate(() => (this.#readyThisTurn = false));
        this.#boot?.resolve();
        this.#boot = null;
        return;
      case 'started':
        this.#timings.firstExitNs = ev.firstExitNs; // again after an exec
        return;
      case 'console':
        if (this.#consoleSink?._takeForwarded(ev.data)) {
          this.emit('console', ev.data);
          return;
        }
        if (this.#consoleMode === 'pipe') {
          const room = this.console.push(ev.data);
          if (!room && !this.#consoleUnbounded && this.listenerCount('console') === 0) this.#pauseConsole(true);
        } else if (this.#consoleMode === 'inherit') process.stdout.write(ev.data);
        this.emit('console', ev.data);
        return;
      case 'exit':
        this.#exitMessage = ev;
        this.#timings.exitNs = ev.exitNs;
        return;
      case 'error':
        this.#bootError = ev;
        return;
      case 'closed':
        this.#controlClosed = true;
        break;
      case 'ended':
        this.#processEnded = ev;
        break;
      case 'spare':
        this.#sparePid = ev.pid;
        return;
      case 'malformed':
        // A monitor that sends garbage is not trusted any further.
        this.#native.signal(this.id, osConstants.signals.SIGKILL);
        return;
    }
    // A monitor whose guest has ended reports it and closes its socket; it may stay a
    // while as its children's parent process. Without a report, wait for the process.
    if (this.#controlClosed && (this.#processEnded || this.#exitMessage)) this.#finish();
  }

  #finish(): void {
    if (this.#phase === 'ended') return;
    const wasBooting = this.#phase === 'booting';
    this.#phase = 'ended';
    this.#sparePid = 0;
    const status = endStatus({ exit: this.#exitMessage, killedWith: this.#killedWith, processEnded: this.#processEnded });
    this.#status = status;
    this.#endConsoleOnce();
    const sink = this.#consoleSink;
    if (sink && --sink.#consoleWriters === 0 && sink.#phase === 'ended') sink.#endConsoleOnce();
    if (wasBooting && this.#boot) {
      this.#boot.reject(bootFailure(this.#bootError, status));
      this.#boot = null;
    }
    const forkEvents = this.#link.forkEventsDue();
    this.#link.ended();
    if (forkEvents.length > 0) {
      // A guest that forked and ended at once: its `fork` events (each waits for its child
      // to boot) come first, then `exited` and `exit`, as a process's SIGCHLD comes after
      // its fork returned.
      void Promise.allSettled(forkEvents).then(() => this.#announceEnd(status, wasBooting));
      return;
    }
    this.#announceEnd(status, wasBooting);
  }

  /** The console stream ends once this pVM and every process writing to it have ended. */
  #endConsoleOnce(): void {
    if (this.#consoleEnded || this.#consoleWriters > 0) return;
    this.#consoleEnded = true;
    if (this.#consoleMode === 'pipe') this.console.push(null);
  }

  #announceEnd(status: ExitStatus, wasBooting: boolean): void {
    this.#resolveExited(status);
    if (wasBooting) return;
    // A guest that ends at once (the process backend runs one in microseconds) can end in
    // the turn its Ready came in: its spawn() or fork() resolves after that turn, so the
    // event waits one more, for the listeners added right after the await.
    if (this.#readyThisTurn) setImmediate(() => this.emit('exit', status));
    else this.emit('exit', status);
  }
}
