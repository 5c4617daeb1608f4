/**
 * How a pVM ended, from what its monitor and its process reported: the exit status a
 * {@link Pvm} resolves with, and the error a spawn that never booted rejects with.
 * @internal
 * @module
 */
import { constants as osConstants } from 'node:os';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { PvmError, type SnapshotFaultReason } from './errors.js';
import { BOOT_ERROR_CODES, type SnapshotFaultName } from './generated/control.js';
import type { MonitorEvent } from './native.js';
import { exceptionMnemonic, type ExitStatus, type Fault, type FaultKind } from './status.js';


/** @internal What was heard of a pVM's end. */
export interface EndReports {
  /** The monitor's Exit message, if it sent one. */
  exit: Extract<MonitorEvent, { type: 'exit' }> | null;
  /** The signal the host killed it with, if it did before any report. */
  killedWith: NodeJS.Signals | null;
  /** The end of its monitor process, if seen. */
  processEnded: Extract<MonitorEvent, { type: 'ended' }> | null;
}

/** @internal The exit status: the monitor's report first, else the host's kill, else how the process died. */
export function endStatus(r: EndReports): ExitStatus {
  const m = r.exit;
  if (m && m.kind === 'code') return { kind: 'exit', code: m.code };
  if (m && m.kind === 'killed') return { kind: 'killed', signal: m.code === abi.signals.KILL ? 'SIGKILL' : 'SIGTERM' };
  if (m) return { kind: 'fault', fault: faultFrom(m) };
  if (r.killedWith) return { kind: 'killed', signal: r.killedWith };
  const end = r.processEnded;
  let how = 'ended without a report';
  if (end?.statusKnown && end.signal) how = `was killed by signal ${signalName(end.signal)}`;
  else if (end?.statusKnown) how = `exited with status ${end.exitStatus} without a report`;
  return {
    kind: 'fault',
    fault: { kind: 'monitor-died', rip: 0n, address: 0n, errorCode: 0n, message: `the monitor ${how}` },
  };
}

/** @internal Why a pVM never booted: the monitor's Error message, else how it ended. */
export function bootFailure(error: Extract<MonitorEvent, { type: 'error' }> | null, status: ExitStatus | null): PvmError {
  if (error) {
    const code = BOOT_ERROR_CODES[error.code];
    const extra = { ...(error.errno ? { errno: error.errno } : {}), ...(code === 'EBADSNAPSHOT' ? { reason: snapshotReason(error.detail) } : {}) };
    return new PvmError(code, error.message, extra);
  }
  const why = status?.kind === 'fault' ? status.fault.message : 'the monitor ended before the pVM booted';
  return new PvmError('EMONITOR', why);
}

function faultFrom(m: Extract<MonitorEvent, { type: 'exit' }>): Fault {
  const kind = m.fault as FaultKind;
  const base = { kind, rip: m.rip, address: m.address, errorCode: m.errorCode, message: m.reason };
  if (kind !== 'exception' || m.vector < 0) return base;
  const mnemonic = exceptionMnemonic(m.vector);
  return mnemonic ? { ...base, vector: m.vector, mnemonic } : { ...base, vector: m.vector };
}

function signalName(signo: number): string {
  const entry = Object.entries(osConstants.signals).find(([, n]) => n === signo);
  return entry ? entry[0] : String(signo);
}

// The public reason of a monitor's SnapshotFault ('none' does not come with BadSnapshot).
function snapshotReason(detail: SnapshotFaultName): SnapshotFaultReason {
  return detail === 'none' ? 'malformed' : detail;
}
