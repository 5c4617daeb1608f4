// Every boundary has one definition (hypercalls/abi.json, addon/common/control.json) and
// generated views of it: none may be stale, and the views must agree with each other.
import * as assert from 'uvu/assert';
import { test } from 'uvu';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import abi from '../hypercalls/abi.json' with { type: 'json' };
import control from '../addon/common/control.json' with { type: 'json' };
import { NO_CHANNEL } from '../lib/abi.js';
import { exceptionMnemonic } from '../lib/status.js';
import { BOOT_ERROR_CODES, CONTROL_FLAGS, wireErrorCode } from '../lib/generated/control.js';
import { packageRoot } from '../lib/paths.js';

test('no generated file is stale (npm run gen --check: control outputs, abi.h, errno_values.h)', () => {
  const r = spawnSync(process.execPath, [join(packageRoot, 'scripts/gen.mjs'), '--check'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

test('the check names a stale output and writes nothing', () => {
  // writeOutputs in check mode over one output changed by a byte: it must be named.
  const script = `
    import { controlOutputs, writeOutputs } from ${JSON.stringify(join(packageRoot, 'scripts/gen-control.mjs'))};
    const out = controlOutputs(${JSON.stringify(packageRoot)});
    out['lib/generated/control.ts'] += '\\n';
    process.stdout.write(JSON.stringify(writeOutputs(${JSON.stringify(packageRoot)}, out, { check: true })));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout), ['lib/generated/control.ts']);
  assert.not.match(readFileSync(join(packageRoot, 'lib/generated/control.ts'), 'utf8'), /\n\n$/);
});

test('every ErrorCode has a PvmError code; AbiMismatch is EABI, BackendUnavailable is 4', () => {
  const codes = control.enums.find((e) => e.name === 'ErrorCode')!.values;
  for (const v of codes as Array<{ js: string; pvmError?: string }>) {
    assert.is(BOOT_ERROR_CODES[v.js as keyof typeof BOOT_ERROR_CODES], v.pvmError);
  }
  assert.is(codes.find((v) => v.name === 'AbiMismatch')!.value, 7);
  assert.is(BOOT_ERROR_CODES.AbiMismatch, 'EABI');
  assert.is(codes.find((v) => v.name === 'BackendUnavailable')!.value, 4);
});

test('wire errors are abi.json errors, read in one place', () => {
  const errno = Object.fromEntries(abi.errors.map((e) => [e.name, e.value]));
  assert.is(wireErrorCode(-errno.EAGAIN!), 'EAGAIN');
  assert.is(wireErrorCode(-errno.E2BIG!), 'E2BIG');
  assert.is(wireErrorCode(-errno.EFAULT!), undefined);
  assert.is(wireErrorCode(0), undefined);
});

test('the waitpid kinds, the no-channel value and the exceptions come from abi.json', () => {
  assert.equal(abi.waitStatus.kinds, { EXIT: 0, FAULT: 1, KILLED: 2 });
  const exitKind = control.enums.find((e) => e.name === 'ExitKind')!.values.map((v) => v.value);
  assert.equal(exitKind, [0, 1, 2]);
  assert.is(NO_CHANNEL, 0xffffffff);
  assert.is(exceptionMnemonic(14), '#PF');
  assert.is(exceptionMnemonic(9), undefined);
  const header = readFileSync(join(packageRoot, 'build/generated/pvm/abi.h'), 'utf8');
  assert.match(header, /#define PVM_WAIT_KILLED 2\b/);
  assert.match(header, /#define PVM_NO_CHANNEL 0xffffffffu/);
  assert.match(header, /X\(14, "#PF", "page fault"\)/);
  assert.is(CONTROL_FLAGS.kReadyKvmPvm, 1);
});

test.run();
