/**
 * Typed view of the N-API addon (addon/binding). Internal.
 * @internal
 * @module
 */
import type { RawActivity } from './activity.js';
import type { ProbeAnswer } from './backends.js';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PvmError } from './errors.js';
import { missingNative, nativeDir, nativeOrigin, prebuildDir } from './paths.js';
import { chooseAddon, currentRuntime } from './prebuild.js';

/** @internal */
export interface BootRequest {
  parentId: number;
  ramSize: number;
  spawnNs: bigint;
  imageFd: number;
  args: string[];
  pool?: boolean;
  forkSpares?: boolean;
  uniqueClones?: boolean;
  /** A Linux program's files (lib/files.ts), handed over in a memfd. */
  files?: Buffer;
  /** imageFd is a snapshot file (ramSize 0, args []: both come from it). */
  snapshot?: boolean;
  /** The environment ("NAME=value" strings); absent: the default one. */
  env?: string[];
  /** Standard input: all of it, or true: the host writes it later (stdin()). */
  stdin?: Buffer | true;
}

/** @internal What the addon hands over (generated from addon/common/control.json). */
export type { MonitorEvent } from './generated/control.js';
import type { MonitorEvent } from './generated/control.js';

/** @internal */
export interface NativeHost {
  spawn(id: number, boot: BootRequest): number;
  signal(id: number, signo: number, pvmSignal?: number): boolean;
  allocateId(): number;
  livePvms(): number;
  fork(id: number, tag: number): boolean;
  reset(id: number, tag: number): boolean;
  /** Standard input for the pVM: bytes, or null for its end. false: the monitor is gone. */
  stdin(id: number, data: Buffer | null): boolean;
  channelNotify(channel: number): boolean;
  pauseControl(id: number, paused: boolean): boolean;
  channelClose(channel: number): void;
  connect(tag: number, a: number, b: number): { channel: number; memory?: ArrayBuffer | null };
  share(tag: number, id: number, size: number): ArrayBuffer | null;
  exec(id: number, tag: number, request: { ramSize: number; imageFd: number; args: string[] }): boolean;
  execImage(id: number, fdOrNegativeErrno: number): boolean;
  snapshot(id: number, tag: number, fd: number, image: string): boolean;
  prestart(count: number, ramSize: number): number;
  poolPids(): number[];
  activity(id: number): RawActivity | null;
  ref(): void;
  unref(): void;
  close(): void;
}

/** @internal */
export interface NativeAddon {
  NativeHost: new (
    monitorPath: string,
    onEvents: (events: MonitorEvent[]) => void,
    maxPvms?: number,
    backend?: string,
  ) => NativeHost;
  /** Can this process run pVMs on the backend? A name not built in: not ok, "not built into this pvm". */
  probeBackend(name: string): ProbeAnswer;
  /** Opens an image on a thread of its own; the callback owns `fd` (errno 0). */
  openImage(path: string, callback: (errno: number, fd: number, regular: boolean) => void): void;
  readRegistry(path: string): {
    live: number;
    limit: number;
    pvms: Array<{ id: number; parentId: number; pid: number; activity: RawActivity }>;
  };
}

let addon: NativeAddon | undefined;

/** Loads the addon once; a missing or unloadable one is `ENOENT`, saying what to do. @internal */
export function loadAddon(): NativeAddon {
  if (!addon) {
    const path = addonPath();
    let raw: NativeAddon;
    try {
      raw = createRequire(import.meta.url)(path) as NativeAddon;
    } catch (err) {
      throw new PvmError('ENOENT', missingNative('addon that loads', `${path}: ${(err as Error).message}`));
    }
    addon = { ...raw, NativeHost: withMonitorCheck(raw.NativeHost) };
  }
  return addon;
}

/** The addon file: the local build's, else the prebuild's that fits this Node and libc. */
function addonPath(): string {
  if (nativeOrigin === 'build') return join(nativeDir, 'pvm.node');
  if (!existsSync(prebuildDir)) throw new PvmError('ENOENT', missingNative('addon'));
  const choice = chooseAddon(readdirSync(prebuildDir), currentRuntime());
  if (choice.file === undefined) throw new PvmError('ENOENT', missingNative('addon', `${prebuildDir}: ${choice.reason}`));
  return join(prebuildDir, choice.file);
}

/** NativeHost, refusing to start without the monitor it would run (clearer than a failed spawn). */
function withMonitorCheck(NativeHost: NativeAddon['NativeHost']): NativeAddon['NativeHost'] {
  return function (monitor: string, onEvents: (events: MonitorEvent[]) => void, maxPvms?: number, backend?: string) {
    if (!existsSync(monitor)) throw new PvmError('ENOENT', missingNative('monitor', `no ${monitor}`));
    return new NativeHost(monitor, onEvents, maxPvms, backend);
  } as unknown as NativeAddon['NativeHost'];
}
