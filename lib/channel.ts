/**
 * The host's end of a channel to a pVM: two single-producer/single-consumer rings in
 * memory shared with the guest (mapped into this process, no copies through a monitor),
 * with a doorbell each way. Protocol: `channel` in hypercalls/abi.json.
 * @module
 */
import { Duplex } from 'node:stream';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { PvmError } from './errors.js';
import type { NativeHost } from './native.js';

const C = abi.channel;
/** Largest message a channel carries, in bytes. */
export const MAX_MESSAGE: number = C.MAX_MESSAGE;
const RING_MASK = C.RING_SIZE - 1;
const WORD = 4;

// u32 counter indexes (in 4-byte words) of ring r's control block.
const at = (ring: number, offset: number): number => (ring * C.CONTROL_STRIDE + offset) / WORD;

function recordSize(length: number): number {
  return WORD + ((length + WORD - 1) & ~(WORD - 1));
}

/** @internal */
export interface ChannelInit {
  id: number;
  memory: ArrayBuffer;
  side: 'A' | 'B';
  native: NativeHost;
}

/**
 * One end of a channel. Messages are byte strings up to {@link MAX_MESSAGE} bytes and
 * keep their boundaries and order. `send` waits when the ring is full (backpressure);
 * `recv` waits for the next message and gives `null` once the other end has closed
 * and everything it sent has been read. Iterate with `for await (const msg of channel)`.
 */
export class Channel implements AsyncIterable<Buffer> {
  /** Host-wide id of the channel. */
  readonly id: number;
  #native: NativeHost;
  #counters: Uint32Array;
  #bytes: Uint8Array;
  #sendRing: number;
  #recvRing: number;
  #closed = false;
  #wakers: Array<() => void> = [];

  /** @internal */
  constructor(init: ChannelInit) {
    this.id = init.id;
    this.#native = init.native;
    this.#counters = new Uint32Array(init.memory, 0, C.HEADER_SIZE / WORD);
    this.#bytes = new Uint8Array(init.memory);
    this.#sendRing = init.side === 'A' ? 0 : 1;
    this.#recvRing = 1 - this.#sendRing;
  }

  /** True once {@link Channel.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True once the other end has closed (messages it sent before may still be unread). */
  get peerClosed(): boolean {
    return Atomics.load(this.#counters, at(this.#recvRing, C.PRODUCER_CLOSED)) !== 0;
  }

  /**
   * Puts a message in the ring if there is room now. Returns false when the ring is full.
   * Throws `EMSGSIZE` for a message over {@link MAX_MESSAGE}, `EPIPE` when the other end
   * has closed, `ECLOSED` after {@link Channel.close}.
   */
  trySend(data: Uint8Array | string): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.#checkSend(bytes);
    const c = this.#counters;
    const r = this.#sendRing;
    const tail = Atomics.load(c, at(r, C.TAIL));
    const head = Atomics.load(c, at(r, C.HEAD));
    const size = recordSize(bytes.length);
    if (C.RING_SIZE - ((tail - head) >>> 0) < size) return false;
    const base = C.HEADER_SIZE + r * C.RING_SIZE;
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, bytes.length, true);
    this.#copyIn(base, tail, header);
    this.#copyIn(base, tail + WORD, bytes);
    const pad = size - WORD - bytes.length;
    if (pad) this.#copyIn(base, tail + WORD + bytes.length, new Uint8Array(pad));
    // Atomics.store is sequentially consistent: the record is visible before the tail,
    // and the tail before we read the consumer's waiting flag.
    Atomics.store(c, at(r, C.TAIL), (tail + size) >>> 0);
    if (Atomics.load(c, at(r, C.CONSUMER_WAITING)) !== 0) this.#native.channelNotify(this.id);
    return true;
  }

  /** Sends a message, waiting while the ring is full. Rejects as {@link Channel.trySend} throws. */
  async send(data: Uint8Array | string): Promise<void> {
    const c = this.#counters;
    const flag = at(this.#sendRing, C.PRODUCER_WAITING);
    for (;;) {
      if (this.trySend(data)) return;
      Atomics.store(c, flag, 1);
      if (this.trySend(data)) {
        Atomics.store(c, flag, 0);
        return;
      }
      await this.#sleep();
      Atomics.store(c, flag, 0);
    }
  }

  /**
   * The next message if one is there: a Buffer (a copy; the ring space is given back at
   * once), `null` when the other end has closed and nothing is left, or `undefined`
   * when the ring is empty for now.
   */
  tryRecv(): Buffer | null | undefined {
    if (this.#closed) throw new PvmError('ECLOSED', 'the channel is closed');
    const c = this.#counters;
    const r = this.#recvRing;
    const head = Atomics.load(c, at(r, C.HEAD));
    const tail = Atomics.load(c, at(r, C.TAIL));
    if (head === tail) return this.peerClosed && Atomics.load(c, at(r, C.TAIL)) === head ? null : undefined;
    const base = C.HEADER_SIZE + r * C.RING_SIZE;
    const header = this.#copyOut(base, head, WORD);
    const length = header.readUInt32LE(0);
    if (length > C.MAX_MESSAGE || recordSize(length) > ((tail - head) >>> 0)) {
      throw new PvmError('EMONITOR', `channel ${this.id}: corrupt record of length ${length} from the pVM`);
    }
    const message = this.#copyOut(base, head + WORD, length);
    Atomics.store(c, at(r, C.HEAD), (head + recordSize(length)) >>> 0);
    if (Atomics.load(c, at(r, C.PRODUCER_WAITING)) !== 0) this.#native.channelNotify(this.id);
    return message;
  }

  /** Waits for the next message; `null` once the other end has closed and all is read. */
  async recv(): Promise<Buffer | null> {
    const c = this.#counters;
    const flag = at(this.#recvRing, C.CONSUMER_WAITING);
    for (;;) {
      let m = this.tryRecv();
      if (m !== undefined) return m;
      Atomics.store(c, flag, 1);
      m = this.tryRecv();
      if (m !== undefined) {
        Atomics.store(c, flag, 0);
        return m;
      }
      await this.#sleep();
      Atomics.store(c, flag, 0);
    }
  }

  /** Messages until the other end closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const m = await this.recv();
      if (m === null) return;
      yield m;
    }
  }

  /**
   * Stops sending (a half close, like `shutdown(SHUT_WR)`): the other end reads what was
   * sent, then end-of-stream; this end can still receive. Idempotent.
   */
  end(): void {
    if (this.#closed) return;
    Atomics.store(this.#counters, at(this.#sendRing, C.PRODUCER_CLOSED), 1);
    this.#native.channelNotify(this.id);
  }

  /**
   * The channel as a pipe-like byte stream (a Node `Duplex`): writes are cut into
   * messages, reads give their bytes with no boundaries; `end()` half-closes, and the
   * readable side ends when the other end has closed. For guests using `pvm_pipe_read`
   * and `pvm_pipe_write`. Use either the stream or the message calls, not both.
   */
  stream(): Duplex {
    const channel = this;
    let reading = false;
    return new Duplex({
      async write(chunk: Buffer, _encoding, callback) {
        try {
          for (let off = 0; off < chunk.length; off += C.MAX_MESSAGE) {
            await channel.send(chunk.subarray(off, off + C.MAX_MESSAGE));
          }
          callback();
        } catch (err) {
          callback(err as Error);
        }
      },
      final(callback) {
        channel.end();
        callback();
      },
      read() {
        if (reading) return;
        reading = true;
        const pump = async (): Promise<void> => {
          for (;;) {
            const m = await channel.recv();
            if (m === null) {
              this.push(null);
              break;
            }
            if (m.length && !this.push(m)) break;
          }
        };
        pump().then(
          () => (reading = false),
          (err: Error) => this.destroy(err),
        );
      },
    });
  }

  /**
   * Closes this end: the other end sees end-of-stream after what was sent, and sends to
   * it fail. Pending `send`/`recv` calls reject with `ECLOSED`. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const c = this.#counters;
    Atomics.store(c, at(this.#sendRing, C.PRODUCER_CLOSED), 1);
    Atomics.store(c, at(this.#recvRing, C.CONSUMER_CLOSED), 1);
    this.#native.channelNotify(this.id);
    this.#native.channelClose(this.id);
    this.#wakeAll();
  }

  /** Same as {@link Channel.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal The other end rang. */
  _wake(): void {
    this.#wakeAll();
  }

  /**
   * @internal The pVM at the other end has ended. Its monitor marks its end closed
   * when the guest exits; after a crash nobody did, so the host does.
   */
  _peerGone(): void {
    if (this.#closed) return;
    const c = this.#counters;
    Atomics.store(c, at(this.#recvRing, C.PRODUCER_CLOSED), 1);
    Atomics.store(c, at(this.#sendRing, C.CONSUMER_CLOSED), 1);
    this.#wakeAll();
  }

  #checkSend(bytes: Uint8Array): void {
    if (this.#closed) throw new PvmError('ECLOSED', 'the channel is closed');
    if (!(bytes instanceof Uint8Array)) throw new PvmError('EINVAL', 'send: expected a Buffer, Uint8Array or string');
    if (bytes.length > C.MAX_MESSAGE) {
      throw new PvmError('EMSGSIZE', `message of ${bytes.length} bytes; a channel carries at most ${C.MAX_MESSAGE}`);
    }
    if (Atomics.load(this.#counters, at(this.#sendRing, C.CONSUMER_CLOSED)) !== 0) {
      throw new PvmError('EPIPE', 'the other end of the channel has closed');
    }
  }

  #sleep(): Promise<void> {
    if (this.#closed) return Promise.reject(new PvmError('ECLOSED', 'the channel is closed'));
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  #wakeAll(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const w of wakers) w();
  }

  #copyIn(base: number, position: number, src: Uint8Array): void {
    const offset = position & RING_MASK;
    const first = Math.min(src.length, C.RING_SIZE - offset);
    this.#bytes.set(src.subarray(0, first), base + offset);
    if (first < src.length) this.#bytes.set(src.subarray(first), base);
  }

  #copyOut(base: number, position: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    const offset = position & RING_MASK;
    const first = Math.min(length, C.RING_SIZE - offset);
    out.set(this.#bytes.subarray(base + offset, base + offset + first), 0);
    if (first < length) out.set(this.#bytes.subarray(base, base + length - first), first);
    return out;
  }
}
