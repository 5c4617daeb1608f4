#!/usr/bin/env node
// npm run test:hwkvm [-- pattern]: runs the test suite on hardware-KVM semantics on any
// x86-64 Linux machine. Boots a Debian kernel under QEMU TCG with an emulated AMD-V CPU
// (scripts/vm-host), loads kvm_amd in it, and runs `node scripts/run-tests.js` there in
// this checkout as it is (shared read-only over 9p, writes go to memory; nothing is
// rebuilt). Shows that pvm sees hardware KVM there, streams the guest's output, and ends
// with the suite's `N passed, N failed`. Before the suite it runs the demo, whose
// null-pointer step must be reported as a page fault at address 0x0 there too (`0 passed, 1 failed` and why when it gave none).
// Exit status 0 only when every test passed.
// Env: PVM_HWKVM_TIMEOUT_S bounds the whole VM run (default 1500); PVM_TEST_* variables
// are passed to the suite in the VM, and PVM_HWKVM=1 is set there: test/package.test.ts
// skips (npm pack and npm install would take many minutes under TCG, and its pVMs run
// the same code as the other tests'). The suite there runs its kvm half only
// (PVM_BACKEND=kvm): the run is about hardware KVM; the process backend does not depend
// on KVM's flavour, and its half would double the ~7 min under TCG.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptInstall, debianPackage, dependency } from './vm-host/debian.mjs';
import { depmod, initramfs } from './vm-host/initramfs.mjs';
import { boot } from './vm-host/qemu.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'build/vm-host');
const timeoutS = Number(process.env.PVM_HWKVM_TIMEOUT_S ?? 25 * 60);
const started = Date.now();
const since = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const sh = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
const kverIn = (dir) => readdirSync(join(dir, 'lib/modules'))[0];

/** The VM host: QEMU here, a Debian kernel and busybox unpacked in the cache, an initramfs. */
function prepareHost() {
  aptInstall(['qemu-system-x86', 'kmod']);
  const cache = join(work, 'cache');
  const kernel = debianPackage(dependency('linux-image-amd64', /^linux-image-[0-9].*-amd64$/), cache, (dir) => depmod(dir, kverIn(dir)));
  const kver = kverIn(kernel.dir);
  const initrd = initramfs({
    name: 'kvm-amd',
    busybox: debianPackage('busybox-static', cache).dir,
    kernel: { root: kernel.dir, kver },
    modules: ['kvm-amd', 'virtio_pci', '9pnet_virtio', '9p', 'overlay'],
    out: join(work, 'images'),
  });
  console.log(`hwkvm: host ready after ${since()}: Linux ${kver}, ${initrd}`);
  return { kernel: join(kernel.dir, 'boot', `vmlinuz-${kver}`), initrd };
}

// Run in the VM in this checkout: does pvm see hardware KVM? (a hello pVM reports it)
const probe = `
import { Host, builtinGuest, describeExit } from "./lib/index.ts";
import { loadAddon } from "./lib/native.ts";
console.log("hwkvm: probeBackend('kvm') " + JSON.stringify(loadAddon().probeBackend("kvm")));
const host = await Host.open();
const pvm = await host.spawn(builtinGuest("hello"), { args: ["probe"] });
let text = "";
for await (const chunk of pvm.console) text += chunk;
const status = await pvm.exited;
await host.close();
console.log("hwkvm: hello pVM said " + JSON.stringify(text.trim()) + ", " + describeExit(status));
const flavour = pvm.backendInfo.name === "kvm" ? pvm.backendInfo.kvm.flavour : "none";
console.log("hwkvm: pvm detected " + (flavour === "kvm_pvm" ? "the kvm_pvm software flavour" : "hardware KVM") + " (Pvm.backendInfo = " + JSON.stringify(pvm.backendInfo) + ")");
process.exit(flavour !== "hardware" || status.kind !== "exit" || status.code !== 0 ? 1 : 0);
`;

/** The job the VM host's init runs chrooted into this machine's root: facts, the probe, the suite. */
function writeJob(testArgs) {
  // Everything runs ~50x slower under TCG: each test's bound (60 s by default) is 5 min
  // there unless the caller says otherwise.
  const env = Object.entries({ PVM_TEST_BOUND_MS: '300000', ...process.env }).filter(([k]) => k.startsWith('PVM_TEST_'));
  const job = `# made by scripts/test-hwkvm.mjs for the VM host's init
cd ${sh(root)} || exit 2
export CI=true PVM_HWKVM=1 PVM_BACKEND=kvm ${env.map(([k, v]) => `${k}=${sh(v)}`).join(' ')}
echo "hwkvm: $(uname -r), $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), svm: $(grep -c -w svm /proc/cpuinfo) CPUs"
echo "hwkvm: /dev/kvm: $(ls -l /dev/kvm 2>&1)"
echo "hwkvm: modules: $(cut -d' ' -f1 /proc/modules | grep -E '^kvm|^ccp' | tr '\\n' ' ')"
node --import tsx --input-type=module -e ${sh(probe)} || { echo 'hwkvm: the probe failed'; exit 3; }
# The demo's null-pointer step must read as a page fault with its address here too.
node --import tsx examples/demo.ts > /tmp/hwkvm-demo.log 2>&1; sed 's/^/hwkvm: demo | /' /tmp/hwkvm-demo.log
grep -q 'page fault (#PF) at rip 0x[0-9a-f]*: read of unmapped address 0x0 (null pointer)' /tmp/hwkvm-demo.log \
  || { echo 'hwkvm: the demo did not report the null pointer as a page fault'; exit 4; }
node scripts/run-tests.js ${testArgs.map(sh).join(' ')}
`;
  const file = join(work, 'run', `hwkvm-${process.pid}.sh`);
  if (/\s/.test(file)) throw new Error(`the checkout's path has a space, which a kernel command line cannot carry: ${file}`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, job);
  return file;
}

/** The summary line to end with and whether the run passed, from what the VM printed. */
function verdict(vm) {
  const plain = vm.output.replace(/\x1b\[[0-9;]*m/g, '');
  const summary = [...plain.matchAll(/^(\d+) passed, (\d+) failed.*$/gm)].at(-1);
  const exit = /^vm-host: job exited (\d+)$/m.exec(plain)?.[1];
  console.log(`\nhwkvm: the VM ran ${vm.seconds.toFixed(0)} s (${since()} in all)${exit === undefined ? '' : `, its job exited ${exit}`}`);
  if (summary && (summary[2] !== '0' || exit === '0')) return { line: summary[0], ok: exit === '0' };
  const why = vm.timedOut
    ? `QEMU killed after ${timeoutS} s (PVM_HWKVM_TIMEOUT_S)`
    : summary
      ? `the test run exited ${exit ?? 'without a status'}`
      : exit === '3'
        ? 'pvm did not see hardware KVM'
        : exit === '4'
          ? 'the demo did not report its page fault'
          : exit === '125'
          ? 'the VM host set-up failed'
          : exit !== undefined
            ? `the job exited ${exit} without a test summary`
            : `the VM ended without a result (QEMU exit ${vm.status}: a guest crash or panic?)`;
  return { line: `${summary?.[1] ?? 0} passed, 1 failed (hardware KVM in a VM: ${why})`, ok: false };
}

let result;
try {
  const host = prepareHost();
  const job = writeJob(process.argv.slice(2));
  const vm = await boot({
    ...host,
    append: `console=ttyS0 quiet panic=-1 vmhost_job=${job}`,
    timeoutMs: timeoutS * 1000,
    prefix: 'vm | ',
  });
  rmSync(job, { force: true });
  result = verdict(vm);
} catch (e) {
  result = { line: `0 passed, 1 failed (hardware KVM in a VM: ${e.message})`, ok: false };
}
console.log(`\n${result.line}`);
process.exit(result.ok ? 0 : 1);
