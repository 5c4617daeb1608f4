/**
 * Which backend runs the pVMs: choosing one at {@link Host.open}, and what each says of itself.
 * @module
 */
import { PvmError } from './errors.js';
import { CONTROL_FLAGS } from './generated/control.js';

/** A virtualization backend pvm can run pVMs on (xen: built where libxen-dev is, working in a dom0). */
export type Backend = 'kvm' | 'process' | 'xen';

/** What {@link HostOptions.backend} accepts: a backend, or `'auto'` to take the first that works. */
export type BackendChoice = 'auto' | Backend;

/**
 * The order `'auto'` tries backends in: the hardware-isolated ones first (kvm, then xen,
 * which works only in a Xen dom0), then the one that needs nothing from the machine
 * (process: a pVM isolated by its monitor process and seccomp, not by a hypervisor).
 */
export const AUTO_ORDER: readonly Backend[] = ['kvm', 'xen', 'process'];

/** Facts of the kvm backend. */
export interface KvmInfo {
  /**
   * `'hardware'`: VT-x/AMD-V; `'kvm_pvm'`: the kvm_pvm software flavour of KVM (guests
   * run under paravirtual MMU, exits cost more). Found by the same check the monitor makes.
   */
  readonly flavour: 'kvm_pvm' | 'hardware';
  /** The KVM API version of the device (12). */
  readonly apiVersion: number;
}

/**
 * What the backend in use says of itself ({@link Host.backendInfo}, {@link Pvm.backendInfo}):
 * its name, and under a key of that name its own facts (`info.kvm.flavour`).
 */
export type BackendInfo =
  | {
      /** The backend. */
      readonly name: 'kvm';
      /** kvm's own facts. */
      readonly kvm: KvmInfo;
    }
  | {
      /** The backend (no facts of its own yet). */
      readonly name: 'process';
    }
  | {
      /** The backend (no facts of its own yet). */
      readonly name: 'xen';
    };

/** @internal One backend's answer to the addon's probeBackend(name). */
export interface ProbeAnswer {
  ok: boolean;
  errno: number;
  message?: string;
  info?: Record<string, string | number>;
}

const CHOICES: readonly string[] = ['auto', ...AUTO_ORDER];

/**
 * @internal Picks the backend for `requested` (`from` says where it came from, for the
 * message), asking `probe`. `auto`: the first of {@link AUTO_ORDER} that works, else
 * `ENOBACKEND` saying what each answered. An explicit kvm that cannot run: `ENOKVM`;
 * another explicit one: `ENOBACKEND`; an unknown name: `EINVAL`.
 */
export function chooseBackend(requested: unknown, from: string, probe: (name: Backend) => ProbeAnswer): BackendInfo {
  if (typeof requested !== 'string' || !CHOICES.includes(requested)) {
    const choices = CHOICES.map((c) => `'${c}'`).join(', ');
    throw new PvmError('EINVAL', `${from}: unknown backend ${JSON.stringify(requested)} (one of ${choices})`);
  }
  if (requested !== 'auto') {
    const name = requested as Backend;
    const answer = probe(name);
    if (answer.ok) return infoOf(name, answer);
    const why = answer.message ?? 'unknown reason';
    const errno = answer.errno || undefined;
    if (name === 'kvm') throw new PvmError('ENOKVM', `no usable KVM: ${why}`, { errno });
    throw new PvmError('ENOBACKEND', `backend ${name}: ${why}`, { errno });
  }
  const answers: Array<[Backend, ProbeAnswer]> = [];
  for (const name of AUTO_ORDER) {
    const answer = probe(name);
    if (answer.ok) return infoOf(name, answer);
    answers.push([name, answer]);
  }
  throw new PvmError('ENOBACKEND', noBackendMessage(answers));
}

/** @internal The message of `auto` finding none: "no backend can run here: kvm: …; process: …". */
export function noBackendMessage(answers: ReadonlyArray<readonly [Backend, ProbeAnswer]>): string {
  return `no backend can run here: ${answers.map(([name, a]) => `${name}: ${a.message ?? 'unknown reason'}`).join('; ')}`;
}

function infoOf(name: Backend, answer: ProbeAnswer): BackendInfo {
  if (name !== 'kvm') return { name };
  const info = answer.info ?? {};
  return {
    name,
    kvm: { flavour: info.flavour === 'kvm_pvm' ? 'kvm_pvm' : 'hardware', apiVersion: Number(info.apiVersion ?? 0) },
  };
}

/**
 * @internal What one pVM's monitor said in its Ready message: its backend and that
 * backend's flags (kvm: bit 0 = kvm_pvm, ctl::kReadyKvmPvm), over what the host knew.
 */
export function readyBackendInfo(host: BackendInfo, backend: string, flags: number): BackendInfo {
  if (host.name === 'kvm' && backend === 'kvm') {
    return { name: 'kvm', kvm: { ...host.kvm, flavour: flags & CONTROL_FLAGS.kReadyKvmPvm ? 'kvm_pvm' : 'hardware' } };
  }
  return host;
}
