/**
 * The guest/monitor ABI as TypeScript sees it, read from `hypercalls/abi.json`, the one
 * source of truth the C runtime and the monitor are generated from as well.
 * @module
 */
import abi from '../hypercalls/abi.json' with { type: 'json' };

/** Version of the hypercall ABI this library speaks. */
export const ABI_VERSION: number = abi.version;

/** Hypercall numbers by name (`EXIT`, `GETID`, …). */
export const Hypercall: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(abi.hypercalls.map((h) => [h.name, h.nr])),
);

/** Error numbers a hypercall returns (negated) by name (`EINVAL`, `EFAULT`, …). */
export const GuestErrno: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(abi.errors.map((e) => [e.name, e.value])),
);

/** Name of a guest error number, e.g. `guestErrnoName(14) === 'EFAULT'`. */
export function guestErrnoName(value: number): string | undefined {
  return abi.errors.find((e) => e.value === Math.abs(value))?.name;
}

/** Smallest guest RAM a pVM may have, in bytes. */
export const MIN_RAM: number = abi.layout.MIN_RAM;
/** Largest guest RAM a pVM may have, in bytes. */
export const MAX_RAM: number = abi.layout.MAX_RAM;
/** Room for the argument strings (and their pointers) in the boot-info area, in bytes. */
export const ARGS_SIZE: number = abi.layout.ARGS_SIZE;
/** Guest-physical address where images are linked. */
export const IMAGE_BASE: number = abi.layout.IMAGE_BASE;

/** No channel slot (abi.json noChannel): a fork with no channel, a pVM nobody forked. */
export const NO_CHANNEL: number = abi.noChannel.value;

/** An x86 exception vector's mnemonic and name (abi.json exceptions), if the ABI names it. */
export function exception(vector: number): { mnemonic: string; name: string } | undefined {
  const e = abi.exceptions.vectors.find((v) => v.vector === vector);
  return e && { mnemonic: e.mnemonic, name: e.name };
}

/** A struct of abi.json laid out as scripts/gen-abi.mjs lays out its C twin: field offsets and size. */
function layoutOf(fields: ReadonlyArray<{ name: string; type: string; count?: number }>) {
  const sizes: Record<string, number> = { u32: 4, u64: 8 };
  const offsets: Record<string, number> = {};
  let size = 0;
  for (const f of fields) {
    offsets[f.name] = size;
    size += sizes[f.type]! * (f.count ?? 1);
  }
  return { offsets: Object.freeze(offsets), size };
}

const block = layoutOf(abi.hypercall.block.fields);

/** Byte offsets of the argument block's fields (`struct pvm_hc_block`). */
export interface HypercallBlockOffsets {
  /** u32 hypercall number. */
  readonly nr: number;
  /** u32, reserved (0). */
  readonly flags: number;
  /** `maxArgs` u64 arguments. */
  readonly args: number;
  /** u64 result, written by the monitor. */
  readonly result: number;
}

/** The hypercall transport's numbers (see {@link HypercallTransport}). */
export interface HypercallTransportLayout {
  /** The doorbell port: a 4-byte write of the block's address makes a hypercall. */
  readonly port: number;
  /** The port the monitor's exception stubs write to. */
  readonly faultPort: number;
  /** The floor port: a write there is answered with no work (the bench baseline). */
  readonly floorPort: number;
  /** Guest-physical address of vCPU 0's argument block. */
  readonly blockGpa: number;
  /** Distance between the blocks of consecutive vCPUs, in bytes. */
  readonly blockStride: number;
  /** How many arguments a block holds. */
  readonly maxArgs: number;
  /** Where each field of the block is. */
  readonly blockOffsets: HypercallBlockOffsets;
  /** Size of the block in bytes. */
  readonly blockSize: number;
}

/**
 * The hypercall transport (`hypercall` in abi.json): a hypercall is one 4-byte write of
 * `blockGpa` to `port`; number, arguments and result travel in the argument block at
 * `blockGpa`. A write to `floorPort` is answered with no work; exception stubs report on
 * `faultPort`.
 */
export const HypercallTransport: HypercallTransportLayout = Object.freeze({
  port: abi.hypercall.port,
  faultPort: abi.hypercall.faultPort,
  floorPort: abi.hypercall.floorPort,
  blockGpa: abi.hypercall.BLOCK_GPA,
  blockStride: abi.hypercall.BLOCK_STRIDE,
  maxArgs: abi.hypercall.MAX_ARGS,
  blockOffsets: block.offsets as unknown as HypercallBlockOffsets,
  blockSize: block.size,
});
