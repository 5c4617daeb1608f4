// Boots the Xen test host under QEMU TCG and runs one shell command in dom0, in this
// checkout (the vm-host init: this machine's root over 9p, read-only, writes in memory).
// The serial console (Xen's and dom0's) is streamed as it comes; the whole QEMU run is
// bounded from outside (a hang of the emulated machine fails the run).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boot } from '../vm-host/qemu.mjs';
import { prepareXenHost, xenWork } from './host.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const sh = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * Xen's command line. smap=0: with SMAP, dom0 crashes in create_bounce_frame under TCG.
 * One vCPU and 1 GiB for dom0; the rest of the emulated machine is for domains. No
 * `noreboot`: a Xen panic reboots, which ends QEMU (-no-reboot) instead of waiting.
 */
const XEN_APPEND = 'console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 smap=0 guest_loglvl=warning';

/**
 * The emulated CPU: `max` (AMD-V with nested paging) without XSAVE. With XSAVE, processes in
 * dom0 (Node, xl, monitors) crashed with corrupted registers within seconds of an HVM domain
 * running beside them (segfaults, glibc heap checks, V8 checks); without it Xen and dom0
 * save vector state with FXSAVE and nothing crashes (QEMU 7.2's TCG XSAVE/XRSTOR under
 * Xen's per-vCPU XCR0 switching is the suspect). PVM_XEN_CPU overrides it, PVM_XEN_APPEND
 * adds to Xen's command line (experiments).
 */
const XEN_CPU = 'max,-xsave';

/** The job dom0's init runs chrooted: Xen services, then `command` in the checkout with `env`. */
function writeJob(root, host, command, env) {
  const job = `# made by scripts/xen-host/boot.mjs for dom0's init
cd ${sh(root)} || exit 2
xen_tools=${sh(host.tools)}
. ${sh(join(here, 'dom0.sh'))}
export ${Object.entries({ CI: 'true', ...env }).map(([k, v]) => `${k}=${sh(v)}`).join(' ')}
${command}
`;
  const file = join(xenWork(root), 'run', `job-${process.pid}.sh`);
  if (/[\s,]/.test(file)) throw new Error(`xen-host: the checkout's path has a space or comma, which dom0's command line cannot carry: ${file}`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, job);
  return file;
}

/**
 * Prepares the host (cached), boots it, runs `command` (a shell command line) in dom0 and
 * resolves once QEMU has ended: { output, status, timedOut, seconds, exit, prepareSeconds }.
 * exit: the command's exit status as dom0's init reported it (undefined: none; 125: the
 * set-up failed). Options: memshr (the hypervisor with VM forking), env (exported in
 * dom0), timeoutS (the whole QEMU run), prefix (before each console line).
 */
export async function runInDom0(root, command, { memshr = false, env = {}, timeoutS = 900, prefix = 'xen | ' } = {}) {
  const started = Date.now();
  const host = prepareXenHost(root, { memshr });
  const prepareSeconds = (Date.now() - started) / 1000;
  console.log(`xen-host: ready after ${prepareSeconds.toFixed(1)} s: Xen ${host.version}${memshr ? ' (memshr build)' : ''}, dom0 Linux ${host.kver}`);
  const job = writeJob(root, host, command, env);
  try {
    const vm = await boot({
      kernel: host.xen,
      initrd: `${host.kernel} console=hvc0 quiet panic=-1 vmhost_job=${job},${host.initrd}`,
      append: [XEN_APPEND, process.env.PVM_XEN_APPEND].filter(Boolean).join(' '),
      cpu: process.env.PVM_XEN_CPU || XEN_CPU,
      timeoutMs: timeoutS * 1000,
      prefix,
    });
    const plain = vm.output.replace(/\x1b\[[0-9;]*m/g, '');
    const exit = /^vm-host: job exited (\d+)$/m.exec(plain)?.[1];
    return { ...vm, output: plain, exit: exit === undefined ? undefined : Number(exit), prepareSeconds };
  } finally {
    rmSync(job, { force: true });
  }
}
