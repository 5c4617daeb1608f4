/**
 * The host's side of one pVM: its link. It makes the {@link Pvm}, takes every event its
 * monitor sends, and owns what waits on that monitor (forks, execs, channel hand-outs) and
 * the host channels to it, failing them when the pVM ends. The links of one host share a
 * {@link HostContext}.
 * @internal
 * @module
 */
import { closeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { GuestErrno, guestErrnoName, NO_CHANNEL } from './abi.js';
import type { Attach } from './attach.js';
import type { BackendInfo } from './backends.js';
import { Channel } from './channel.js';
import { PvmError } from './errors.js';
import { checkArgs, openGuestImage, openImage } from './image.js';
import { parseMemory } from './memory.js';
import { closeQuietly, createSnapshotFile, finishSnapshotFile, type SnapshotInfo } from './snapshot.js';
import type { MonitorEvent, NativeHost } from './native.js';
import { BOOT_ERROR_CODES, CONTROL_FLAGS, wireErrorCode } from './generated/control.js';
import {
  Pvm,
  type ConsoleMode,
  type ExecInfo,
  type ExecOptions,
  type ForkInfo,
  type ForkOptions,
  type ForkResult,
  type PvmHostLink,
  type ResetInfo,
} from './pvm.js';

type Event<T extends MonitorEvent['type']> = Extract<MonitorEvent, { type: T }>;

/** @internal What the links of one host share. */
export class HostContext {
  /** Links of the pVMs that run, by pVM id. */
  readonly links = new Map<number, PvmLink>();
  /** Links of pVMs that ended during the events being dispatched now: an answer their
   * monitor sent before it ended still counts. */
  readonly settling = new Map<number, PvmLink>();
  /** Host channels by id (doorbells name them). */
  readonly channels = new Map<number, Channel>();
  /** Snapshot files being written now (each through `<file>.tmp`: one writer at a time). */
  readonly snapshotting = new Set<string>();
  closed = false;
  #nextTag = 1;
  #refed = false;

  constructor(
    readonly native: NativeHost,
    readonly backend: BackendInfo,
    /** Where a guest's EXEC looks after its own image's directory. */
    readonly imagePath: readonly string[],
  ) {}

  /** A tag for a request whose answer comes as an event. */
  nextTag(): number {
    return this.#nextTag++;
  }

  /** The link an event of pVM `id` goes to. */
  linkOf(id: number): PvmLink | undefined {
    return this.links.get(id) ?? this.settling.get(id);
  }

  // Keep Node alive while pVMs run, as child processes do; not when none do.
  updateRef(): void {
    const want = this.links.size > 0;
    if (want === this.#refed) return;
    this.#refed = want;
    if (want) this.native.ref();
    else this.native.unref();
  }
}

interface PendingFork {
  resolve: (r: ForkResult) => void;
  reject: (e: PvmError) => void;
  console?: ConsoleMode;
}

interface PendingSnapshot {
  resolve: (s: SnapshotInfo) => void;
  reject: (e: PvmError) => void;
  file: string;
}

interface PendingReset {
  resolve: (r: ResetInfo) => void;
  reject: (e: PvmError) => void;
}

interface PendingExec {
  resolve: (e: ExecInfo) => void;
  reject: (e: PvmError) => void;
  image: string;
}

/** @internal */
export class PvmLink implements PvmHostLink {
  readonly pvm: Pvm;
  readonly consoleMode: ConsoleMode;
  /** The image it runs (a guest's EXEC searches its directory first). */
  image: string | undefined;
  #ctx: HostContext;
  #guestExec: string | undefined; // the image its guest asked for, until it runs
  #forks = new Map<number, PendingFork>();
  #execs = new Map<number, PendingExec>();
  #resets = new Map<number, PendingReset>();
  #forkEvents = new Set<Promise<void>>(); // its guest's forks whose `fork` event is due
  #attaches = new Map<number, Attach>();
  #snapshots = new Map<number, PendingSnapshot>();
  #channels = new Set<number>(); // its host channels

  /** Its standard input comes from the host (the stdin spawn option): so does a host fork child's. */
  readonly inputFromHost: boolean;

  constructor(ctx: HostContext, id: number, parent: PvmLink | null, consoleMode: ConsoleMode, spawnNs: bigint,
    input: { inputFromHost: boolean; stdinStream: boolean } = { inputFromHost: false, stdinStream: false }) {
    this.#ctx = ctx;
    this.consoleMode = consoleMode;
    this.inputFromHost = input.inputFromHost;
    this.image = parent?.image;
    this.pvm = new Pvm({
      id,
      parent: parent?.pvm ?? null,
      native: ctx.native,
      consoleMode,
      spawnNs,
      backend: ctx.backend,
      link: this,
      stdin: input.stdinStream,
    });
    ctx.links.set(id, this);
    parent?.pvm.children.add(this.pvm);
    ctx.updateRef();
  }

  /** Forgets a pVM whose monitor never started. */
  discard(): void {
    this.#ctx.links.delete(this.pvm.id);
    this.pvm.parent?.children.delete(this.pvm);
    this.#ctx.updateRef();
  }

  /** Every pVM of the host that has not ended. */
  get hostClosed(): boolean {
    return this.#ctx.closed;
  }

  live(): Iterable<Pvm> {
    return [...this.#ctx.links.values()].map((l) => l.pvm);
  }

  /** A host channel to this pVM: its doorbells reach it, its end closes it. */
  addChannel(channel: Channel): void {
    this.#ctx.channels.set(channel.id, channel);
    this.#channels.add(channel.id);
  }

  /** Waits for this pVM's answer to the hand-out `tag`. */
  expect(tag: number, attach: Attach): void {
    this.#attaches.set(tag, attach);
  }

  fork(options: ForkOptions): Promise<ForkResult> {
    if (this.#ctx.closed) return Promise.reject(new PvmError('ECLOSED', 'the host is closed'));
    const tag = this.#ctx.nextTag();
    return new Promise((resolve_, reject) => {
      if (!this.#ctx.native.fork(this.pvm.id, tag)) {
        reject(new PvmError('ESRCH', `pVM ${this.pvm.id} has ended`));
        return;
      }
      this.#forks.set(tag, { resolve: resolve_, reject, console: options.console });
    });
  }

  reset(): Promise<ResetInfo> {
    if (this.#ctx.closed) return Promise.reject(new PvmError('ECLOSED', 'the host is closed'));
    const tag = this.#ctx.nextTag();
    return new Promise((resolve_, reject) => {
      if (!this.#ctx.native.reset(this.pvm.id, tag)) {
        reject(new PvmError('ESRCH', `pVM ${this.pvm.id} has ended`));
        return;
      }
      this.#resets.set(tag, { resolve: resolve_, reject });
    });
  }

  async exec(image: string, options: ExecOptions): Promise<ExecInfo> {
    {
      if (this.#ctx.closed) throw new PvmError('ECLOSED', 'the host is closed');
      if (typeof image !== 'string' || image === '') throw new PvmError('EINVAL', 'image: expected a file path');
      const ramSize = options.memory === undefined ? 0 : parseMemory(options.memory);
      const args = checkArgs(image, options.args ?? []);
      const imageFd = await openImage(image);
      const tag = this.#ctx.nextTag();
      try {
        if (this.#ctx.closed) throw new PvmError('ECLOSED', 'the host is closed');
        if (!this.#ctx.native.exec(this.pvm.id, tag, { ramSize, imageFd, args })) {
          throw new PvmError('ESRCH', `pVM ${this.pvm.id} has ended`);
        }
      } catch (err) {
        if (err instanceof PvmError) throw err;
        const e = err as NodeJS.ErrnoException;
        throw new PvmError(e.code === 'E2BIG' ? 'E2BIG' : 'EMONITOR', e.message, { cause: err });
      } finally {
        closeSync(imageFd); // the monitor has its own copy
      }
      return new Promise((resolve_, reject) => {
        this.#execs.set(tag, { resolve: resolve_, reject, image: resolve(image) });
      });
    }
  }

  async snapshot(file: string): Promise<SnapshotInfo> {
    const path = resolve(file);
    if (this.#ctx.snapshotting.has(path)) throw new PvmError('EAGAIN', `a snapshot into ${path} is being written`, { path });
    const fd = createSnapshotFile(path);
    const tag = this.#ctx.nextTag();
    try {
      if (!this.#ctx.native.snapshot(this.pvm.id, tag, fd, this.image ?? '')) {
        finishSnapshotFile(path, false);
        throw new PvmError('ESRCH', `pVM ${this.pvm.id} has ended`);
      }
    } catch (err) {
      if (err instanceof PvmError) throw err;
      finishSnapshotFile(path, false);
      throw new PvmError('EMONITOR', (err as Error).message, { cause: err });
    } finally {
      closeQuietly(fd); // the monitor has its own copy
    }
    this.#ctx.snapshotting.add(path);
    return new Promise((resolve_, reject) => this.#snapshots.set(tag, { resolve: resolve_, reject, file: path }));
  }

  /** An event of this pVM's monitor. */
  handle(ev: MonitorEvent): void {
    if (ev.type === 'forked') this.#forked(ev);
    else if (ev.type === 'attached') this.#attached(ev);
    else if (ev.type === 'exec-request') void this.#execRequest(ev);
    else if (ev.type === 'execed') this.#execed(ev);
    else if (ev.type === 'snapshotted') this.#snapshotted(ev);
    else if (ev.type === 'reset') this.#reset(ev);
    else this.pvm._handle(ev);
  }

  /** The Pvm has ended. */
  ended(): void {
    const ctx = this.#ctx;
    const id = this.pvm.id;
    ctx.links.delete(id);
    ctx.settling.set(id, this);
    queueMicrotask(() => {
      if (ctx.settling.get(id) === this) ctx.settling.delete(id);
      this.#failPending();
    });
    this.#guestExec = undefined;
    this.pvm.parent?.children.delete(this.pvm);
    // Its channels to the host stay readable for what is left in them; doorbells go.
    for (const channel of this.#channels) {
      ctx.channels.get(channel)?._peerGone();
      ctx.channels.delete(channel);
      ctx.native.channelClose(channel);
    }
    this.#channels.clear();
    ctx.updateRef();
  }

  // Fails what waits on this pVM, after the events dispatched with its end.
  #failPending(): void {
    const id = this.pvm.id;
    // Ended by host.close(): ECLOSED, as documented for what was in flight then.
    const code = this.#ctx.closed ? 'ECLOSED' : 'ESRCH';
    const why = this.#ctx.closed ? 'the host was closed' : `pVM ${id} ended`;
    for (const f of this.#forks.values()) f.reject(new PvmError(code, `${why} before the fork was done`));
    for (const e of this.#execs.values()) e.reject(new PvmError(code, `${why} before the exec was done`));
    for (const r of this.#resets.values()) r.reject(new PvmError(code, `${why} before the reset was done`));
    this.#resets.clear();
    for (const a of this.#attaches.values()) a.fail(new PvmError(code, `${why} before pVM ${id} took the channel`));
    for (const s of this.#snapshots.values()) {
      this.#ctx.snapshotting.delete(s.file);
      finishSnapshotFile(s.file, false);
      s.reject(new PvmError(code, `${why} before the snapshot was written`));
    }
    this.#snapshots.clear();
    this.#forks.clear();
    this.#execs.clear();
    this.#attaches.clear();
  }

  #attached(ev: Event<'attached'>): void {
    const attach = this.#attaches.get(ev.tag);
    this.#attaches.delete(ev.tag);
    attach?.answered(ev.id, ev.error, ev.slot);
  }

  // Its guest's EXEC names an image: look for it where this host allows, send it or ENOENT.
  // The guest waits in its EXEC meanwhile (the host's opens never block this thread).
  async #execRequest(ev: Event<'exec-request'>): Promise<void> {
    const dirs = this.image ? [dirname(this.image), ...this.#ctx.imagePath] : this.#ctx.imagePath;
    const found = await openGuestImage(ev.strings[0] ?? '', dirs);
    const live = this.#ctx.links.get(this.pvm.id) === this && !this.#ctx.closed;
    if (live) this.#guestExec = found.path;
    try {
      if (live) this.#ctx.native.execImage(ev.id, found.fd);
    } catch {
      // its monitor went meanwhile: nobody to answer
    } finally {
      if (found.fd >= 0) closeSync(found.fd);
    }
  }

  #execed(ev: Event<'execed'>): void {
    const pending = ev.tag ? this.#execs.get(ev.tag) : undefined;
    if (ev.tag) this.#execs.delete(ev.tag);
    const guestImage = this.#guestExec;
    this.#guestExec = undefined;
    if (ev.error !== 0) {
      const code = wireErrorCode(ev.error) === 'E2BIG' ? 'E2BIG' : BOOT_ERROR_CODES[ev.code];
      const error = new PvmError(code, ev.message || `exec failed: ${guestErrnoName(ev.error)}`, guestImage ? { path: guestImage } : {});
      if (pending) pending.reject(error);
      // The guest's own EXEC of an image the host gave: it got -error and runs on.
      else if (this.#ctx.links.get(this.pvm.id) === this) this.pvm.emit('execError', error);
      return;
    }
    const alive = this.#ctx.links.get(this.pvm.id) === this;
    const image = pending?.image ?? guestImage ?? '';
    if (image && alive) this.image = image;
    this.pvm._setLinuxProgram((ev.imageFlags & CONTROL_FLAGS.kReadyLinux) !== 0);
    const info: ExecInfo = { image, replaceUs: Number(ev.readyNs - ev.startNs) / 1e3 };
    pending?.resolve(info);
    if (alive) this.pvm.emit('exec', info);
  }

  #snapshotted(ev: Event<'snapshotted'>): void {
    const pending = this.#snapshots.get(ev.tag);
    if (!pending) return;
    this.#snapshots.delete(ev.tag);
    this.#ctx.snapshotting.delete(pending.file);
    if (ev.error !== 0) {
      finishSnapshotFile(pending.file, false);
      pending.reject(new PvmError('ENOMEM', ev.message || `snapshot failed: ${guestErrnoName(ev.error)}`, { path: pending.file }));
      return;
    }
    try {
      finishSnapshotFile(pending.file, true);
    } catch (err) {
      finishSnapshotFile(pending.file, false);
      pending.reject(new PvmError('EPERM', `cannot rename ${pending.file}.tmp: ${(err as Error).message}`, { path: pending.file, cause: err }));
      return;
    }
    pending.resolve({ file: pending.file, bytes: ev.bytes, pages: ev.pages, pausedUs: Number(ev.resumeNs - ev.pauseStartNs) / 1e3 });
  }

  #reset(ev: Event<'reset'>): void {
    const pending = ev.tag ? this.#resets.get(ev.tag) : undefined;
    if (ev.tag) this.#resets.delete(ev.tag);
    if (ev.error !== 0) {
      const wire = wireErrorCode(ev.error);
      const code = wire === 'EINVAL' ? 'ENOTFORK' : wire === 'ENOSYS' ? 'ENOSYS' : wire === 'ENOMEM' ? 'ENOMEM' : 'EMONITOR';
      const why =
        code === 'ENOTFORK'
          ? `pVM ${ev.id} has no fork point to reset to (it was not forked, or it exec'ed since)`
          : code === 'ENOSYS'
            ? `the ${this.pvm.backend} backend cannot reset a pVM`
            : `reset of pVM ${ev.id} failed: errno ${-ev.error}`;
      pending?.reject(new PvmError(code, why, { errno: -ev.error }));
      return;
    }
    const info: ResetInfo = { pages: ev.pages, resetUs: Number(ev.doneNs - ev.startNs) / 1e3 };
    pending?.resolve(info);
    if (this.#ctx.links.get(this.pvm.id) === this) this.pvm.emit('reset', info);
  }

  #forked(ev: Event<'forked'>): void {
    const ctx = this.#ctx;
    const pending = ev.tag ? this.#forks.get(ev.tag) : undefined;
    if (ev.tag) this.#forks.delete(ev.tag);
    const alive = ctx.links.get(this.pvm.id) === this;
    if (ev.error === 0 && (ctx.closed || !alive)) {
      // The host is closing (or this pVM has ended): the child is not wanted.
      dropChild(ctx.native, ev);
      pending?.reject(new PvmError(ctx.closed ? 'ECLOSED' : 'ESRCH', `fork of pVM ${ev.id} ended with the host`));
      return;
    }
    if (ev.error !== 0 || !alive) {
      // A guest's failed fork is the guest's to handle: FORK returned the error.
      const wire = wireErrorCode(ev.error);
      const code = wire === 'EAGAIN' || wire === 'ENOSYS' ? wire : 'ENOMEM';
      pending?.reject(new PvmError(code, `fork of pVM ${ev.id} failed: errno ${-ev.error}`, { errno: -ev.error }));
      return;
    }
    // A host fork's child has an open standard input of its own when its parent's came
    // from the host; a guest fork's child reads what its parent had, then end of file.
    const open = pending !== undefined && this.inputFromHost;
    const childLink = new PvmLink(ctx, ev.childId, this, pending?.console ?? this.consoleMode, ev.pauseStartNs,
      { inputFromHost: open, stdinStream: open });
    const child = childLink.pvm;
    // A Linux process's fork: its stdout is the parent's (README "Running Linux programs").
    if (!pending && this.pvm._linuxProgram && childLink.consoleMode === 'pipe') child._forwardConsoleTo(this.pvm._consoleRoot());
    let channel: Channel | undefined;
    if (ev.channel) {
      channel = new Channel({ id: ev.childId, memory: ev.channel, side: 'A', native: ctx.native });
      childLink.addChannel(channel);
    }
    const parentPausedUs = Number(ev.resumeNs - ev.pauseStartNs) / 1e3;
    const emitted = child._booted().then(
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
        else this.pvm.emit('fork', info);
      },
      (err: PvmError) => {
        channel?.close();
        pending?.reject(err);
      },
    );
    if (!pending) {
      this.#forkEvents.add(emitted);
      void emitted.finally(() => this.#forkEvents.delete(emitted));
    }
  }

  forkEventsDue(): Promise<void>[] {
    return [...this.#forkEvents];
  }
}

/** @internal An event for a pVM with no link (it ended, its end dispatched earlier). */
export function orphanEvent(native: NativeHost, ev: MonitorEvent): void {
  if (ev.type === 'forked' && ev.error === 0) dropChild(native, ev); // nobody wants the child
  else if (ev.type === 'exec-request') native.execImage(ev.id, -GuestErrno.ENOENT); // a wire errno (control.json errors)
}

function dropChild(native: NativeHost, ev: Event<'forked'>): void {
  native.signal(ev.childId, osConstants.signals.SIGKILL);
  if (ev.channel) native.channelClose(ev.childId);
}
