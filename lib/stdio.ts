/**
 * The `env` and `stdin` spawn options: checked here, and the {@link Pvm.stdin} stream.
 * Internal.
 * @internal
 * @module
 */
import { Writable } from 'node:stream';
import { ARGS_SIZE } from './abi.js';
import { PvmError } from './errors.js';
import type { NativeHost } from './native.js';

/** What the `stdin` spawn option takes. */
export type StdinOption = string | Uint8Array | 'pipe';

/** Bytes the `stdin` option may hand over at once (a string or a buffer). */
export const STDIN_MAX_BYTES = 64 << 20;

/**
 * The `env` option as `NAME=value` strings, checked: names non-empty without `=` or NUL,
 * values strings without NUL (`EINVAL`); with the arguments (`argBytes`: what they take
 * in the ARGS area) they must fit the ARGS area (`E2BIG`). undefined stays undefined.
 */
export function checkEnv(env: unknown, args: readonly string[]): string[] | undefined {
  if (env === undefined) return undefined;
  if (env === null || typeof env !== 'object' || Array.isArray(env)) {
    throw new PvmError('EINVAL', 'env: expected an object of NAME: value strings');
  }
  const out: string[] = [];
  for (const [name, value] of Object.entries(env as Record<string, unknown>)) {
    if (name === '' || name.includes('=') || name.includes('\0')) {
      throw new PvmError('EINVAL', `env: ${JSON.stringify(name)} is no variable name (empty, or with '=' or NUL)`);
    }
    if (typeof value !== 'string') throw new PvmError('EINVAL', `env.${name}: expected a string`);
    if (value.includes('\0')) throw new PvmError('EINVAL', `env.${name}: the value contains NUL`);
    out.push(`${name}=${value}`);
  }
  // As the monitor lays them out: argv pointers + NULL + strings, 8-aligned, then the same for envp.
  const argBytes = args.reduce((n, a) => n + Buffer.byteLength(a) + 1 + 8, 8);
  const bytes = ((argBytes + 7) & ~7) + out.reduce((n, e) => n + Buffer.byteLength(e) + 1 + 8, 8);
  if (bytes > ARGS_SIZE) {
    throw new PvmError('E2BIG', `args and env: ${bytes} bytes, the limit is ${ARGS_SIZE}`);
  }
  return out;
}

/** The `stdin` option as the addon takes it: the whole input, or true for `'pipe'`. */
export function checkStdin(stdin: unknown): Buffer | true | undefined {
  if (stdin === undefined) return undefined;
  if (stdin === 'pipe') return true;
  let bytes: Buffer;
  if (typeof stdin === 'string') bytes = Buffer.from(stdin);
  else if (stdin instanceof Uint8Array) bytes = Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength);
  else throw new PvmError('EINVAL', `stdin: expected a string, a Buffer or 'pipe'`);
  if (bytes.length > STDIN_MAX_BYTES) {
    throw new PvmError('E2BIG', `stdin: ${bytes.length} bytes, the limit is ${STDIN_MAX_BYTES} (use 'pipe' and write it)`);
  }
  return bytes;
}

/**
 * A pVM's standard input as a Writable: each write goes to its monitor, which keeps the
 * bytes until the guest reads them; `end()` is the end of input. Writes once the pVM has
 * ended are dropped.
 */
export function stdinStream(native: NativeHost, id: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        native.stdin(id, chunk);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    final(callback) {
      try {
        native.stdin(id, null);
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
  });
}
