#!/usr/bin/env node
// npm run xen:host -- [--memshr] <command…>: boots the Xen test host (QEMU TCG, Xen 4.17,
// a Debian dom0) and runs <command> in dom0 in this checkout; exits with its status.
// --memshr or PVM_XEN_MEMSHR=1: the hypervisor rebuilt with VM forking (memshr.mjs).
// PVM_XEN_TIMEOUT_S bounds the whole QEMU run (default 900).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInDom0 } from './boot.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const memshr = args[0] === '--memshr' ? (args.shift(), true) : process.env.PVM_XEN_MEMSHR === '1';
if (args.length === 0) {
  console.error('usage: npm run xen:host -- [--memshr] <command…>   (e.g. npm run xen:host -- xl info)');
  process.exit(2);
}
const timeoutS = Number(process.env.PVM_XEN_TIMEOUT_S ?? 900);
try {
  const vm = await runInDom0(root, args.join(' '), { memshr, timeoutS, env: { PVM_XEN: '1' } });
  const why = vm.timedOut ? `QEMU killed after ${timeoutS} s (PVM_XEN_TIMEOUT_S)` : vm.exit === undefined ? `no exit status from dom0 (QEMU exit ${vm.status}: a crash or panic?)` : vm.exit === 125 ? 'the dom0 set-up failed' : `exit ${vm.exit}`;
  console.log(`\nxen-host: ${why}; QEMU ran ${vm.seconds.toFixed(1)} s`);
  process.exit(vm.exit ?? 1);
} catch (e) {
  console.error(`xen-host: ${e.message}`);
  process.exit(1);
}
