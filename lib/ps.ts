/**
 * `pvm ps`: the pVMs of every host on this machine that this user can see. A host is a
 * process holding a pVM registry (a memfd its monitors share); the registry is read
 * through /proc, read-only, so looking never disturbs a host.
 * @internal
 * @module
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { describeActivity, type PvmActivity } from './activity.js';
import { loadAddon } from './native.js';

/** One running pVM as `pvm ps` shows it. @internal */
export interface PsEntry {
  id: number;
  parentId: number;
  pid: number;
  rssKiB: number;
  /** Seconds since its monitor process started. */
  ageSeconds: number;
  /** What it is doing now. */
  activity: PvmActivity;
  children: PsEntry[];
}

/** One host (a process with a registry) and its family trees. @internal */
export interface PsHost {
  pid: number;
  command: string;
  live: number;
  limit: number;
  /** The backend its pVMs run on (from a monitor's `--backend=`), or null with none running. */
  backend: string | null;
  /** pVMs whose parent is not running (spawned ones, or orphans of an ended parent). */
  roots: PsEntry[];
}

const REGISTRY_LINK = '/memfd:pvm-registry (deleted)';

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/status`, ''));
  return m ? Number(m[1]) : 0;
}

function ageSeconds(pid: number): number {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTicks = Number(fields[19]);
  const uptime = Number(readOr('/proc/uptime', '0').split(' ')[0]);
  const ticksPerSecond = 100; // USER_HZ on Linux
  return Number.isFinite(startTicks) ? Math.max(0, uptime - startTicks / ticksPerSecond) : 0;
}

/** Every registry fd open in a process, by its /proc path: one per Host (a process may
 * have opened several). */
function findHosts(): Array<{ pid: number; path: string }> {
  const found: Array<{ pid: number; path: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (readOr(`/proc/${entry}/comm`, '').trim() === 'pvm-monitor') continue; // holds it only while booting
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // not ours to look at, or gone
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === REGISTRY_LINK) {
          found.push({ pid: Number(entry), path: `/proc/${entry}/fd/${fd}` });
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return found;
}

// A host runs one backend and passes it to every monitor it starts: ask the first that answers.
function backendOf(pvms: ReadonlyArray<{ pid: number }>): string | null {
  for (const { pid } of pvms) {
    if (pid <= 0) continue;
    const arg = readOr(`/proc/${pid}/cmdline`, '').split('\0').find((a) => a.startsWith('--backend='));
    if (arg) return arg.slice('--backend='.length);
  }
  return null;
}

/** The pVM family trees of every visible host. @internal */
export function listHosts(): PsHost[] {
  const addon = loadAddon();
  const hosts: PsHost[] = [];
  for (const { pid, path } of findHosts()) {
    let view: ReturnType<typeof addon.readRegistry>;
    try {
      view = addon.readRegistry(path);
    } catch {
      continue; // the host closed it meanwhile
    }
    const entries = new Map<number, PsEntry>();
    for (const p of view.pvms) {
      const { activity, ...ids } = p;
      entries.set(p.id, { ...ids, activity: describeActivity(activity), rssKiB: p.pid > 0 ? rssKiB(p.pid) : 0, ageSeconds: p.pid > 0 ? ageSeconds(p.pid) : 0, children: [] });
    }
    const roots: PsEntry[] = [];
    for (const e of [...entries.values()].sort((a, b) => a.id - b.id)) {
      const parent = entries.get(e.parentId);
      if (parent) parent.children.push(e);
      else roots.push(e);
    }
    const command = readOr(`/proc/${pid}/cmdline`, '').split('\0').filter(Boolean).join(' ');
    hosts.push({ pid, command, live: view.live, limit: view.limit, backend: backendOf(view.pvms), roots });
  }
  return hosts;
}

/** `pvm ps` as text: one block per host, a tree of pVMs in each. @internal */
export function formatHosts(hosts: PsHost[]): string {
  if (hosts.length === 0) return 'no pvm hosts running (that this user can see)';
  const lines: string[] = [];
  for (const h of hosts) {
    lines.push(`host ${h.pid}: ${h.command.slice(0, 100)}`);
    lines.push(`  ${h.live} pVMs running (limit ${h.limit})${h.backend ? ` on ${h.backend}` : ''}`);
    lines.push(`  ${'PVM'.padEnd(24)} ${'MONITOR'.padStart(8)} ${'RSS'.padStart(10)} ${'AGE'.padStart(8)}  STATE`);
    const walk = (e: PsEntry, prefix: string, last: boolean, top: boolean) => {
      const branch = top ? '' : last ? '└─ ' : '├─ ';
      const label = `${prefix}${branch}${e.id}`;
      const rss = `${(e.rssKiB / 1024).toFixed(1)} MiB`;
      lines.push(`  ${label.padEnd(24)} ${String(e.pid).padStart(8)} ${rss.padStart(10)} ${`${e.ageSeconds.toFixed(0)} s`.padStart(8)}  ${e.activity.text}`);
      const next = top ? prefix : prefix + (last ? '   ' : '│  ');
      e.children.forEach((c, i) => walk(c, next, i === e.children.length - 1, false));
    };
    for (const r of h.roots) walk(r, '', true, true);
  }
  return lines.join('\n');
}
