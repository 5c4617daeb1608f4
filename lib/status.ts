/**
 * How a pVM ended.
 * @module
 */
import { exception } from './abi.js';
import type { FaultKindName } from './generated/control.js';

/** Why a guest was stopped by the monitor instead of exiting by itself. */
export type FaultKind =
  | 'exception'
  | 'triple-fault'
  | 'bad-hypercall'
  | 'bad-io'
  | 'bad-memory'
  | 'internal'
  | 'monitor-died';

// The monitor's fault kinds (control.json FaultKind, but 'none') are exactly FaultKind's
// but 'monitor-died' (the library's own): tsc fails here when one side changes alone.
type MonitorFaultKind = Exclude<FaultKindName, 'none'>;
type LibraryFaultKind = Exclude<FaultKind, 'monitor-died'>;
const faultKindsAgree: [MonitorFaultKind, LibraryFaultKind] extends [LibraryFaultKind, MonitorFaultKind] ? true : never = true;
void faultKindsAgree;

/** A guest fault, as the monitor saw it. */
export interface Fault {
  /** What kind of fault. */
  readonly kind: FaultKind;
  /** CPU exception vector (14 for a page fault) when `kind` is `'exception'`. */
  readonly vector?: number;
  /** Mnemonic of the vector, e.g. `'#PF'`. */
  readonly mnemonic?: string;
  /** Guest instruction pointer at the fault. */
  readonly rip: bigint;
  /**
   * The address involved: CR2 for a page fault, the guest-physical address of a bad
   * access, the hypercall number of an unknown hypercall, the port of stray port I/O.
   */
  readonly address: bigint;
  /** The exception's error code, if it has one. */
  readonly errorCode: bigint;
  /** A readable one-line description. */
  readonly message: string;
}

/** How a pVM ended: it exited, it faulted, or it was killed from the host. */
export type ExitStatus =
  | {
      /** The guest called exit (or returned from main). */
      readonly kind: 'exit';
      /** Its exit code. */
      readonly code: number;
    }
  | {
      /** The guest faulted (CPU exception, triple fault, bad hypercall, bad memory). */
      readonly kind: 'fault';
      /** What, where and why. */
      readonly fault: Fault;
    }
  | {
      /** It was killed: {@link Pvm.kill}, a pVM of its family, or its parent monitor ending. */
      readonly kind: 'killed';
      /** `SIGTERM` or `SIGKILL`. */
      readonly signal: NodeJS.Signals;
    };

/** Mnemonic of an x86 exception vector (`14` → `'#PF'`), from hypercalls/abi.json. */
export function exceptionMnemonic(vector: number): string | undefined {
  return exception(vector)?.mnemonic;
}

/** A one-line description of an exit status, as `pvm run` prints it. */
export function describeExit(status: ExitStatus): string {
  switch (status.kind) {
    case 'exit':
      return `exited with code ${status.code}`;
    case 'killed':
      return `killed by ${status.signal}`;
    case 'fault':
      return `fault: ${status.fault.message}`;
  }
}
