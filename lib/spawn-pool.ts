/**
 * The host's spawn pool: monitors started ahead of time, VM and vCPU built, waiting for a
 * spawn ({@link HostOptions.spawnPool}). The addon keeps the monitors; this keeps count
 * and refills it between spawns.
 * @internal
 * @module
 */
import type { NativeHost } from './native.js';

/** @internal */
export class SpawnPool {
  #native: NativeHost;
  #size: number;
  #memory: number;
  #pooled = 0;
  #refill: NodeJS.Immediate | null = null;
  #closed = false;

  /** `size` monitors (0: no pool), each with `memory` bytes of guest RAM prepared. */
  constructor(native: NativeHost, size: number, memory: number) {
    this.#native = native;
    this.#size = size;
    this.#memory = memory;
  }

  /** A spawn that may take a pooled monitor was sent. */
  took(): void {
    if (this.#pooled > 0) this.#pooled--;
  }

  /** pids of the monitors waiting. */
  pids(): number[] {
    return this.#closed ? [] : this.#native.poolPids();
  }

  // Starting monitors costs ~1 ms of this thread each: never inside a spawn() call.
  scheduleRefill(): void {
    if (this.#refill || this.#closed || this.#pooled >= this.#size) return;
    this.#refill = setImmediate(() => {
      this.#refill = null;
      this.fill();
    });
    this.#refill.unref();
  }

  fill(): void {
    if (this.#closed || this.#size === 0) return;
    try {
      this.#pooled = this.#native.prestart(this.#size, this.#memory);
    } catch {
      // Out of processes or memory: spawn starts monitors itself.
    }
  }

  /** No refills from now on (the host closes; the addon ends the monitors). */
  close(): void {
    this.#closed = true;
    if (this.#refill) clearImmediate(this.#refill);
    this.#refill = null;
  }
}
