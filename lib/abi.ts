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
