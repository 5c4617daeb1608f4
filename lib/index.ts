/**
 * pvm: process-like VMs for Node.js.
 * @module pvm
 */
export {
  Host,
  type HostOptions,
  type HostStats,
  type SpawnOptions,
  type ConnectedSlots,
  type SharedRegion,
  type SnapshotSpawnOptions,
} from './host.js';
export { type SnapshotInfo } from './snapshot.js';
export { type Backend, type BackendChoice, type BackendInfo, type KvmInfo, AUTO_ORDER } from './backends.js';
export { Pvm, type PvmEvents, type PvmTimings, type ConsoleMode, type ForkInfo, type ForkResult, type ForkOptions, type PvmSignalName, type ExecInfo, type ExecOptions, type ResetInfo } from './pvm.js';
export { Channel, MAX_MESSAGE } from './channel.js';
export { PvmError, type PvmErrorCode, type SnapshotFaultReason } from './errors.js';
export { type ExitStatus, type Fault, type FaultKind, describeExit, exceptionMnemonic } from './status.js';
export { type MemorySize, parseMemory, DEFAULT_MEMORY } from './memory.js';
export { type FilesOption } from './files.js';
export { type StdinOption } from './stdio.js';
export { Hypercall, GuestErrno, guestErrnoName, ABI_VERSION, MIN_RAM, MAX_RAM, HypercallTransport, type HypercallTransportLayout, type HypercallBlockOffsets } from './abi.js';
export { builtinGuest } from './paths.js';
export { type PvmActivity, type PvmActivityState } from './activity.js';
