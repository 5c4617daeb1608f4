// The backend seam (addon/monitor/backend.h, docs/architecture.md "Backends"): KVM lives
// in addon/monitor/backends/kvm/ only. No other source file in addon/ or fuzz/ may
// include a KVM header, name a KVM ioctl or constant, or use kvm_pvm; and the core
// includes no backend's folder (only the registry has a line per backend; a backend's
// fuzz harness, fuzz/fuzz_<name>.cc, its own).
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { packageRoot } from '../lib/paths.js';

const BACKENDS = 'addon/monitor/backends/';
const SOURCE = /\.(c|cc|h|hh|cpp|hpp|S|s)$|(^|\/)CMakeLists\.txt$|\.cmake$/;

// What must not appear outside the kvm backend's folder (comments aside: they may
// explain a KVM behaviour the code works around).
const FORBIDDEN: [string, RegExp][] = [
  ['a KVM header', /linux\/kvm\.h|kvm_uapi\.h/],
  ['a KVM ioctl or constant', /\bKVM_[A-Z0-9_]+/],
  ['kvm_pvm', /\bkvm_pvm\b/],
];

// Files allowed to name what FORBIDDEN lists outside backends/kvm/ (none), and why.
const KNOWN: Record<string, string[]> = {};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (SOURCE.test(entry.name)) out.push(relative(packageRoot, path));
  }
  return out;
}

/** The text without C/C++ and CMake comments (strings are left as they are). */
function code(text: string, file: string): string {
  if (/CMakeLists\.txt$|\.cmake$/.test(file)) return text.replace(/#[^\n]*/g, '');
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

const files = ['addon', 'fuzz'].flatMap((d) => sources(join(packageRoot, d)));

test('the scan sees the monitor, the addon, the fuzz harnesses and the kvm backend', () => {
  for (const f of ['addon/monitor/main.cc', 'addon/monitor/backend.h', 'fuzz/fake_backend.cc',
    'addon/monitor/backends/kvm/kvm_backend.cc']) {
    assert.ok(files.includes(f), f);
  }
});

test('no KVM header, ioctl or kvm_pvm outside addon/monitor/backends/kvm/', () => {
  const found: string[] = [];
  for (const file of files) {
    if (file.startsWith(`${BACKENDS}kvm/`)) continue;
    const text = code(readFileSync(join(packageRoot, file), 'utf8'), file);
    for (const [what, pattern] of FORBIDDEN) {
      if ((KNOWN[file] ?? []).includes(what)) continue;
      const m = text.match(pattern);
      if (m) found.push(`${file}: ${what} (${m[0]})`);
    }
  }
  assert.equal(found, []);
});

test("the core includes no backend's folder; only the registry names them", () => {
  const found: string[] = [];
  for (const file of files) {
    if (file.startsWith(BACKENDS)) continue; // a backend, or the registry
    // A backend's own fuzz harness, fuzz/fuzz_<name>.cc, tests that backend's code.
    const own = /^fuzz\/fuzz_([a-z0-9_]+)\.cc$/.exec(file)?.[1];
    const text = code(readFileSync(join(packageRoot, file), 'utf8'), file);
    for (const m of text.matchAll(/#include\s+"monitor\/backends\/([a-z0-9_]+)\/[^"]*"/g)) {
      if (m[1] !== own) found.push(`${file}: ${m[0]}`);
    }
  }
  assert.equal(found, []);
});

test.run();
