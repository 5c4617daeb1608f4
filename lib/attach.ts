/**
 * One request to hand a channel or shared region to one or two pVMs
 * ({@link Host.channel}, {@link Host.connect}, {@link Host.share}): settled once every
 * pVM it went to has answered, or at the first that refused or ended. The link of each
 * such pVM holds it until that pVM answers or ends.
 * @internal
 * @module
 */
import { PvmError } from './errors.js';
import { wireErrorCode } from './generated/control.js';

/** @internal */
export class Attach {
  /** The slot each pVM took, by pVM id. */
  readonly slots = new Map<number, number>();
  /** Resolves with {@link Attach.slots} once every pVM took it. */
  readonly done: Promise<Map<number, number>>;
  #waiting: number;
  #settled = false;
  #resolve!: (slots: Map<number, number>) => void;
  #reject!: (e: PvmError) => void;

  constructor(pvms: number) {
    this.#waiting = pvms;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** pVM `id` answered: the slot it took, or a -errno of the wire (control.json errors). */
  answered(id: number, error: number, slot: number): void {
    if (this.#settled) return;
    if (error !== 0) {
      const wire = wireErrorCode(error);
      const code = wire === 'EAGAIN' || wire === 'ENOSYS' ? wire : 'ENOMEM';
      this.fail(new PvmError(code, `pVM ${id} could not take the channel: errno ${-error}`, { errno: -error }));
      return;
    }
    this.slots.set(id, slot);
    if (--this.#waiting === 0) {
      this.#settled = true;
      this.#resolve(this.slots);
    }
  }

  fail(e: PvmError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#reject(e);
  }
}
