// What the tests print when something hangs: the pVM family trees (with each pVM's STATE)
// of one process and of the processes under it. Apart from _helpers.ts (no uvu, no KVM
// probe) so that scripts/run-tests.js can load it in a child process too.
import { readdirSync, readFileSync } from 'node:fs';
import { formatHosts, listHosts } from '../lib/ps.js';

/** pid -> parent pid and command name, for every live process that is not a zombie. */
export function processTable(): Map<number, { parent: number; name: string }> {
  const table = new Map<number, { parent: number; name: string }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')'); // the name may itself hold ')' or spaces
      const fields = stat.slice(close + 2).split(' ');
      if (fields[0] === 'Z') continue; // zombies are reaped soon; they hold nothing
      table.set(Number(entry), { parent: Number(fields[1]), name: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // raced with the process ending
    }
  }
  return table;
}

/** True when an ancestor of `pid` (not `pid` itself) is `root`. */
export function isBelow(pid: number, root: number, table: ReturnType<typeof processTable>): boolean {
  for (let p = table.get(pid)?.parent; p !== undefined && p > 1; p = table.get(p)?.parent) {
    if (p === root) return true;
  }
  return false;
}

/** `pvm ps` for the hosts that are `root` or run under it: their pVM trees and STATEs. */
export function pvmTreesOf(root: number = process.pid): string {
  const table = processTable();
  const hosts = listHosts().filter((h) => h.pid === root || isBelow(h.pid, root, table));
  return hosts.length > 0 ? formatHosts(hosts) : `no pvm host open in process ${root} or under it`;
}
