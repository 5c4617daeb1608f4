// The load-time sweep that finds a Linux program's `syscall` sites (addon/monitor/
// x86_length.cc, linux_rewrite.cc) against a disassembler: run on linux_check (musl) and
// Debian's busybox-static (glibc, with AVX2/AVX-512 string functions), pvm-sweep must
// name exactly the sites `objdump -d` decodes as `syscall`. No VM: a host-side check.
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeDir } from '../lib/paths.js';
// @ts-expect-error: a plain .mjs script without types
import { debianPackage } from '../scripts/vm-host/debian.mjs';

const root = join(import.meta.dirname, '..');
const sweep = join(nativeDir, 'pvm-sweep');
const hasObjdump = spawnSync('objdump', ['--version']).status === 0;

function busybox(): string | undefined {
  try {
    return join((debianPackage('busybox-static', join(root, 'build', 'debian')) as { dir: string }).dir, 'bin', 'busybox');
  } catch {
    return undefined;
  }
}

function objdumpSites(file: string): string[] {
  const r = spawnSync('objdump', ['-d', '--no-show-raw-insn', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  assert.is(r.status, 0, r.stderr);
  return [...r.stdout.matchAll(/^ +([0-9a-f]+):\tsyscall\s*$/gm)].map((m) => m[1]);
}

function check(name: string, file: string | undefined, why: string) {
  if (!file || !existsSync(file) || !existsSync(sweep) || !hasObjdump) {
    console.warn(`(linux-sweep: ${name} SKIPPED: ${!hasObjdump ? 'no objdump' : !existsSync(sweep) ? 'pvm-sweep not built' : why})`);
    return;
  }
  const r = spawnSync(sweep, [file], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const sites = lines.slice(0, -1);
  const want = objdumpSites(file);
  assert.ok(want.length > 0, `objdump finds no syscall in ${file}`);
  assert.equal(sites, want);
  assert.match(lines[lines.length - 1], new RegExp(`^sites ${want.length} undecoded \\d+$`));
}

test('linux_check (musl): the sweep finds exactly the syscall instructions objdump decodes', () => {
  check('linux_check', join(root, 'build', 'linux', 'linux_check'), 'musl-gcc is not installed');
});

test("Debian's busybox-static (glibc): the sweep finds exactly the syscall instructions objdump decodes", () => {
  check('busybox', busybox(), "Debian's busybox-static cannot be fetched here");
});

test.run();
