/**
 * Parsing memory sizes given as options.
 * @module
 */
import { MAX_RAM, MIN_RAM } from './abi.js';
import { PvmError } from './errors.js';

/** A memory size: bytes as a number, or a string with a binary unit (`'64MiB'`, `'1G'`). */
export type MemorySize = number | string;

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** Guest RAM used when `memory` is not given. */
export const DEFAULT_MEMORY = 64 * 1024 * 1024;

/** Bytes of a {@link MemorySize}, checked against the ABI's range. Throws `EINVAL`. */
export function parseMemory(value: MemorySize | undefined): number {
  if (value === undefined) return DEFAULT_MEMORY;
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) throw new PvmError('EINVAL', `memory: cannot parse ${JSON.stringify(value)} (use bytes or e.g. '64MiB')`);
    bytes = Number(m[1]) * unit;
  } else {
    throw new PvmError('EINVAL', `memory: expected a number of bytes or a string like '64MiB'`);
  }
  if (!Number.isSafeInteger(bytes) || bytes < MIN_RAM || bytes > MAX_RAM) {
    throw new PvmError('EINVAL', `memory: ${value} is out of range (${MIN_RAM / 2 ** 20} MiB to ${MAX_RAM / 2 ** 30} GiB)`);
  }
  return bytes;
}
