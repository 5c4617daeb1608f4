// A pool of pVMs forked from one template, each serving request after request and
// rewinding itself to its fork point after each (Pvm.reset, README "Reset"): the
// isolation of a fresh fork per request without paying a fork per request. The guest
// resets itself when it has answered (pvm_reset(), examples/guests/prime_service.c with
// "reset"); a copy is back in the pool once its `reset` event came. A copy that crashed,
// hung (the caller discards it) or could not reset (it exited: ENOSYS where the backend
// has no dirty log, e.g. process on Linux before 6.10) is replaced by a fresh fork when
// one is needed.
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
  /** What the copy's current request waits for: its next `reset` event, or its end. */
  #pending = new Map<Pvm, (how: 'reset' | 'ended') => void>();
  #closed = false;
  #forking = 0; // forks under way: they count against the size

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
    const copies = await Promise.all(Array.from({ length: this.#size - this.#live.size - this.#forking }, () => this.#fork()));
    for (const c of copies) this.#give(c);
  }

  /** A copy for one request: an idle one, a new fork while the pool is not full, or the next one back. */
  async take(): Promise<PoolCopy> {
    const copy =
      this.#idle.pop() ??
      (this.#live.size + this.#forking < this.#size ? await this.#fork() : await new Promise<{ child: Pvm; channel: Channel }>((r) => this.#waiters.push(r)));
    // Set before the request goes: the reset may come in the same turn as the reply.
    const done = new Promise<'reset' | 'ended'>((resolve) => this.#pending.set(copy.child, resolve));
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
    if (this.#waiters.length > 0 && this.#live.size + this.#forking < this.#size) {
      void this.#fork().then(
        (fresh) => this.#give(fresh),
        () => undefined,
      );
    }
  }

  /** No new copies from now on; the caller ends the template (and with it every copy). */
  close(): void {
    this.#closed = true;
  }

  async #fork(): Promise<{ child: Pvm; channel: Channel }> {
    this.#forking++;
    let forked;
    try {
      forked = await this.#template.fork();
    } finally {
      this.#forking--;
    }
    const { child, channel } = forked;
    this.forks++;
    child.console.resume();
    this.#live.add(child);
    const settle = (how: 'reset' | 'ended') => {
      const resolve = this.#pending.get(child);
      this.#pending.delete(child);
      resolve?.(how);
    };
    child.on('reset', () => settle('reset'));
    void child.exited.then(() => {
      this.#live.delete(child);
      settle('ended');
    });
    if (this.#closed) child.kill('SIGKILL');
    return { child, channel };
  }

  #give(copy: { child: Pvm; channel: Channel }): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(copy);
    else this.#idle.push(copy);
  }
}
