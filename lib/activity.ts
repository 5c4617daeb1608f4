/**
 * What a running pVM is doing: running guest code, or blocked in a hypercall (on what,
 * since when). Each monitor records it in the host's registry as it blocks and wakes, so
 * a pVM that hangs says where (`pvm ps`, {@link Pvm.activity}).
 * @module
 */

/** What a pVM's vCPU is doing now ({@link PvmActivity.state}). */
export type PvmActivityState =
  /** Running guest code (or between hypercalls). */
  | 'running'
  /** Blocked in WAIT on channel slots (a channel receive or send, `pvm_wait`). */
  | 'wait'
  /** Blocked in WAIT on no channel: waiting for the host (`pvm_channel_accept`, `pvm_shm_accept`). */
  | 'accept'
  /** Blocked in WAITPID (`pvm_waitpid`). */
  | 'waitpid'
  /** In EXEC, waiting for the host to send the image. */
  | 'exec'
  /** Paused while a fork of it is made. */
  | 'fork'
  /** Sending to the host, which is not reading: an unread console (backpressure). */
  | 'host-full';

/** What a running pVM is doing ({@link Pvm.activity}). */
export interface PvmActivity {
  /** What it is doing: running, or the call it is blocked in. */
  state: PvmActivityState;
  /** `wait`: the channel slots waited on (the first four; `slotCount` says how many in all). */
  slots: number[];
  /** `wait`: how many channel slots are waited on. */
  slotCount: number;
  /** `waitpid`: the child waited for, `0` for any child. */
  child: number;
  /** Milliseconds in this state so far. */
  forMs: number;
  /** As `pvm ps` shows it: `running`, `wait channel 3 12 s`, `waitpid 328`, `exec: waiting for host`. */
  text: string;
}

/** The registry's record as the addon gives it. @internal */
export interface RawActivity {
  kind: number;
  sinceNs: number;
  child: number;
  slots: number[];
  slotCount: number;
}

// common/registry.h's Activity, in order.
const STATES: PvmActivityState[] = ['running', 'wait', 'accept', 'waitpid', 'exec', 'fork', 'host-full'];

function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 1) return `${Math.round(ms)} ms`;
  if (s < 120) return `${Math.round(s)} s`;
  return `${Math.round(s / 60)} min`;
}

/** The registry's record made readable, `nowNs` being CLOCK_MONOTONIC now. @internal */
export function describeActivity(raw: RawActivity, nowNs: bigint = process.hrtime.bigint()): PvmActivity {
  const state = STATES[raw.kind] ?? 'running';
  const forMs = raw.sinceNs > 0 ? Math.max(0, Number(nowNs - BigInt(Math.round(raw.sinceNs))) / 1e6) : 0;
  const since = duration(forMs);
  let text: string;
  switch (state) {
    case 'running':
      text = 'running';
      break;
    case 'wait': {
      const more = raw.slotCount > raw.slots.length ? ` +${raw.slotCount - raw.slots.length}` : '';
      text = `wait channel ${raw.slots.join(',')}${more} ${since}`;
      break;
    }
    case 'accept':
      text = `wait for host ${since}`;
      break;
    case 'waitpid':
      text = `waitpid ${raw.child === 0 ? 'any' : raw.child} ${since}`;
      break;
    case 'exec':
      text = `exec: waiting for host ${since}`;
      break;
    case 'fork':
      text = `fork ${since}`;
      break;
    case 'host-full':
      text = `console: host not reading ${since}`;
      break;
  }
  return { state, slots: raw.slots, slotCount: raw.slotCount, child: raw.child, forMs, text };
}
