// The ABI has one source of truth (hypercalls/abi.json): the C header the runtime and
// monitor compile against is generated from it, and TypeScript reads it directly.
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import { Hypercall, GuestErrno, guestErrnoName, MIN_RAM, MAX_RAM, HypercallTransport } from '../lib/index.js';
import { packageRoot } from '../lib/paths.js';

test('the built C header is exactly what abi.json generates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-abi-'));
  try {
    const fresh = join(dir, 'abi.h');
    execFileSync(process.execPath, [join(packageRoot, 'scripts/gen-abi.mjs'), join(packageRoot, 'hypercalls/abi.json'), fresh]);
    const built = readFileSync(join(packageRoot, 'build/generated/pvm/abi.h'), 'utf8');
    assert.fixture(built, readFileSync(fresh, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TypeScript constants come from abi.json', () => {
  for (const h of abi.hypercalls) assert.is(Hypercall[h.name], h.nr);
  for (const e of abi.errors) {
    assert.is(GuestErrno[e.name], e.value);
    assert.is(guestErrnoName(-e.value), e.name);
  }
  assert.is(MIN_RAM, abi.layout.MIN_RAM);
  assert.is(MAX_RAM, abi.layout.MAX_RAM);
});

test('the hypercall transport: TypeScript and C agree on the argument block', () => {
  const header = readFileSync(join(packageRoot, 'build/generated/pvm/abi.h'), 'utf8');
  const define = (name: string) => {
    const m = new RegExp(`^#define ${name} (?:PVM_U64\\()?(0x[0-9a-f]+|\\d+)`, 'm').exec(header);
    assert.ok(m, `${name} in abi.h`);
    return Number(m![1]);
  };
  const t = HypercallTransport;
  assert.is(define('PVM_HC_PORT'), t.port);
  assert.is(define('PVM_FAULT_PORT'), t.faultPort);
  assert.is(define('PVM_HC_FLOOR_PORT'), t.floorPort);
  assert.is(define('PVM_HC_BLOCK_GPA'), t.blockGpa);
  assert.is(define('PVM_HC_BLOCK_STRUCT_SIZE'), t.blockSize);
  for (const [field, offset] of Object.entries(t.blockOffsets)) {
    assert.is(define(`PVM_HC_BLOCK_${field.toUpperCase()}_OFFSET`), offset, field);
  }
  assert.ok(t.blockSize <= t.blockStride);
  assert.is(t.blockOffsets.result - t.blockOffsets.args, 8 * t.maxArgs);
});

test('hypercall numbers and error values are unique', () => {
  const nrs = abi.hypercalls.map((h) => h.nr);
  assert.is(new Set(nrs).size, nrs.length);
  const errs = abi.errors.map((e) => e.value);
  assert.is(new Set(errs).size, errs.length);
});

test.run();
