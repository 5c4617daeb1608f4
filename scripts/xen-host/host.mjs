// The Xen test host's parts: Xen 4.17 (hypervisor and tools) and a dom0 kernel and
// busybox, all Debian packages unpacked into the vm-host cache (nothing is installed into
// this machine's boot set-up), and a dom0 initramfs with the Xen modules. Everything is
// cached: a second run only checks apt's candidate versions.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstall, debianPackage, dependency } from '../vm-host/debian.mjs';
import { depmod, initramfs } from '../vm-host/initramfs.mjs';
import { memshrHypervisor } from './memshr.mjs';

const kverIn = (dir) => readdirSync(join(dir, 'lib/modules'))[0];

/**
 * Xen's own modules first (privcmd is what the control libraries open), then what 9p
 * needs: loadOrder puts each module's dependencies before it (virtio_ring before virtio).
 */
export const DOM0_MODULES = ['xen-privcmd', 'xenfs', 'xen-evtchn', 'xen-gntdev', 'xen-gntalloc', 'virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/** The Xen version this host runs (Debian 12's); its packages are named after it. */
export const XEN = '4.17';

/** Where the Xen host's own files live, under the checkout's ignored build folder. */
export const xenWork = (root) => join(root, 'build/xen-host');

/** The hypervisor ELF (QEMU's multiboot loader takes no gzip): gunzipped once next to the package. */
function hypervisorElf(dir) {
  const gz = join(dir, 'boot', `xen-${XEN}-amd64.gz`);
  const elf = join(dir, 'boot', `xen-${XEN}-amd64`);
  if (!existsSync(elf)) {
    execFileSync('sh', ['-c', `gzip -dc '${gz}' > '${elf}.tmp' && mv '${elf}.tmp' '${elf}'`]);
  }
  return elf;
}

/**
 * Makes sure everything is here and returns
 * { xen: hypervisor ELF, kernel: dom0 vmlinuz, initrd, kver, tools: folder of xl & co, version }.
 * memshr: use the hypervisor rebuilt with CONFIG_MEM_SHARING (memshr.mjs; minutes the first time).
 */
export function prepareXenHost(root, { memshr = false } = {}) {
  // qemu runs the host; libxen-dev builds dom0 programs here (dom0 runs this machine's
  // root, so the same libraries serve them there); flex and bison build a hypervisor.
  aptInstall(['qemu-system-x86', 'kmod', 'libxen-dev', 'gcc', 'make', ...(memshr ? ['flex', 'bison', 'python3', 'dpkg-dev'] : [])]);
  const cache = join(root, 'build/vm-host/cache');
  const kernelPkg = debianPackage(dependency('linux-image-amd64', /^linux-image-[0-9].*-amd64$/), cache, (dir) => depmod(dir, kverIn(dir)));
  const kver = kverIn(kernelPkg.dir);
  const hypervisor = debianPackage(`xen-hypervisor-${XEN}-amd64`, cache);
  const utils = debianPackage(`xen-utils-${XEN}`, cache);
  const initrd = initramfs({
    name: 'xen-dom0',
    busybox: debianPackage('busybox-static', cache).dir,
    kernel: { root: kernelPkg.dir, kver },
    modules: DOM0_MODULES,
    out: join(xenWork(root), 'images'),
  });
  const xen = memshr ? memshrHypervisor(root, hypervisor) : hypervisorElf(hypervisor.dir);
  return {
    xen,
    kernel: join(kernelPkg.dir, 'boot', `vmlinuz-${kver}`),
    initrd,
    kver,
    tools: join(utils.dir, `usr/lib/xen-${XEN}/bin`),
    version: hypervisor.version,
  };
}
