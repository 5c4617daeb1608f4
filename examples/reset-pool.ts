// A pool of pVMs forked from one template, each serving request after request and
// rewinding itself to its fork point after each (Pvm.reset, README "Reset"): the
// isolation of a fresh fork per request without paying a fork per request. The guest
// resets itself when it has answered (pvm_reset(), examples/guests/prime_service.c with
// "reset"); a copy is back in the pool once its `reset` event came. A copy that crashed,
// hung (the caller discards it) or could not reset (it exited: ENOSYS on the process
// backend) is replaced by a fresh fork when one is needed.
import type { Channel, Pvm } from '../lib/index.js';

/** One pooled copy of the template and the host's channel to it. */
export interface PoolCopy {
  readonly child: Pvm;
  readonly channel: Channel;
  /** Resolves with 'reset' once the copy has rewound itself after its current request,
   * or 'ended' if it ended instead. Made by {@link ResetPool.take}. */
  readonly done: Promise<'reset' | 'ended'>;
}

export class ResetPool {
  /** Copies forked, the first ones and the replacements. */
  forks = 0;
  /** Requests after which a copy was back in the pool by reset. */
  resets = 0;
  #template: Pvm;
  #size: number;
  #idle: Array<{ child: Pvm; channel: Channel }> = [];
  #waiters: Array<(copy: { child: Pvm; channel: Channel }) => void> = [];
  #live = new Set<Pvm>();
  #discarded = new WeakSet<Pvm>();
  #closed = false;

  constructor(template: Pvm, size: number) {
    this.#template = template;
    this.#size = size;
  }

  /** Every copy that runs (to wait for at close). */
  get live(): ReadonlySet<Pvm> {
    return this.#live;
  }

  /** Forks the pool's copies up front, so that the first requests pay no fork. */
  async fill(): Promise<void> {
    const copies = await Promise.all(Array.from({ length: this.#size - this.#live.size }, () => this.#fork()));
    for (const c of copies) this.#give(c);
  }

  /** A copy for one request: an idle one, a new fork while the pool is not full, or the next one back. */
  async take(): Promise<PoolCopy> {
    const copy =
      this.#idle.pop() ??
      (this.#live.size < this.#size ? await this.#fork() : await new Promise<{ child: Pvm; channel: Channel }>((r) => this.#waiters.push(r)));
    // Listened for before the request goes: the reset may come in the same turn as the reply.
    const done = new Promise<'reset' | 'ended'>((resolve) => {
      copy.child.once('reset', () => resolve('reset'));
      void copy.child.exited.then(() => resolve('ended'));
    });
    void done.then((how) => {
      if (how === 'reset' && copy.child.running) {
        this.resets++;
        this.#give(copy);
      } else this.discard(copy);
    });
    return { ...copy, done };
  }

  /** Ends a copy that failed its request (hung, crashed); a fresh fork takes its place when needed. */
  discard(copy: { child: Pvm; channel: Channel }): void {
    if (this.#discarded.has(copy.child)) return;
    this.#discarded.add(copy.child);
    this.#live.delete(copy.child);
    copy.child.kill('SIGKILL');
    copy.channel.close();
    // A waiter would otherwise wait for a copy that is not coming back.
    const waiter = this.#waiters.shift();
    if (waiter) void this.#fork().then(waiter, () => undefined);
  }

  /** No new copies from now on; the caller ends the template (and with it every copy). */
  close(): void {
    this.#closed = true;
  }

  async #fork(): Promise<{ child: Pvm; channel: Channel }> {
    const { child, channel } = await this.#template.fork();
    this.forks++;
    child.console.resume();
    this.#live.add(child);
    void child.exited.then(() => this.#live.delete(child));
    if (this.#closed) child.kill('SIGKILL');
    return { child, channel };
  }

  #give(copy: { child: Pvm; channel: Channel }): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(copy);
    else this.#idle.push(copy);
  }
}
