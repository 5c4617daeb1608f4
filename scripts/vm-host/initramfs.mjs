// Initramfs images for VM hosts: busybox, kernel modules (with what they depend on, in
// load order, decompressed) and an init script made from a template (init.sh by
// default). An image is cached under its content's hash: the same inputs give the same
// file, built once.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpioGz } from './cpio.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const norm = (name) => name.replace(/-/g, '_');
const moduleName = (path) => norm(path.split('/').pop().replace(/\.ko(\.xz|\.zst|\.gz)?$/, ''));

/** Writes modules.dep for an unpacked kernel package (`root` holds lib/modules/<kver>). */
export function depmod(root, kver) {
  execFileSync('depmod', ['-b', root, kver], { stdio: 'inherit' });
}

/** The modules `names` and all they depend on, in an order insmod can load them: [{ name, path }]. */
export function loadOrder(root, kver, names) {
  const base = join(root, 'lib/modules', kver);
  const deps = new Map();
  for (const line of readFileSync(join(base, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod) deps.set(moduleName(mod), { path: join(base, mod), deps: rest.trim().split(/\s+/).filter(Boolean).map(moduleName) });
  }
  const order = [];
  const visit = (name) => {
    if (order.some((m) => m.name === name)) return;
    const mod = deps.get(name);
    if (!mod) throw new Error(`vm-host: no module ${name} in ${base} (built in, or misspelled?)`);
    mod.deps.forEach(visit);
    order.push({ name, path: mod.path });
  };
  names.map(norm).forEach(visit);
  return order;
}

function readModule(path) {
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : path.endsWith('.gz') ? 'gzip' : undefined;
  return tool ? execFileSync(tool, ['-dc', path], { maxBuffer: 1 << 30 }) : readFileSync(path);
}

/**
 * Builds (or finds) the image and returns its path.
 * busybox: the root of an unpacked busybox-static; kernel: { root, kver } of an unpacked
 * kernel package with modules.dep; modules: names to load (their dependencies come
 * along); template: the init script (@MODULES@ is replaced by the load order);
 * extra: more entries for the archive (see cpio.mjs); out: the folder for images.
 */
export function initramfs({ busybox, kernel, modules, template = join(here, 'init.sh'), extra = [], out, name = 'initramfs' }) {
  const order = loadOrder(kernel.root, kernel.kver, modules);
  const init = readFileSync(template, 'utf8').replaceAll('@MODULES@', order.map((m) => m.name).join(' '));
  const hash = createHash('sha256')
    .update(JSON.stringify({ busybox, kernel, order, init, extra }))
    .update(readFileSync(join(here, 'cpio.mjs')))
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 16);
  const file = join(out, `${name}-${hash}.cpio.gz`);
  if (existsSync(file)) return file;

  const started = Date.now();
  const bin = join(busybox, 'bin/busybox');
  const entries = [];
  const dirs = new Set();
  const dir = (path) => {
    if (path === '' || dirs.has(path)) return;
    dir(dirname(path) === '.' ? '' : dirname(path));
    dirs.add(path);
    entries.push({ path, type: 'dir' });
  };
  ['dev', 'proc', 'sys', 'run', 'tmp', 'host', 'rw', 'newroot', 'lib/modules'].forEach(dir);
  entries.push({ path: 'dev/console', type: 'char', mode: 0o600, major: 5, minor: 1 });
  entries.push({ path: 'dev/null', type: 'char', mode: 0o666, major: 1, minor: 3 });
  dir('bin');
  entries.push({ path: 'bin/busybox', type: 'file', mode: 0o755, data: readFileSync(bin) });
  for (const applet of execFileSync(bin, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox') continue;
    dir(dirname(applet));
    entries.push({ path: applet, type: 'symlink', target: '/bin/busybox' });
  }
  for (const m of order) entries.push({ path: `lib/modules/${m.name}.ko`, type: 'file', data: readModule(m.path) });
  entries.push({ path: 'init', type: 'file', mode: 0o755, data: Buffer.from(init) });
  for (const e of extra) {
    dir(dirname(e.path) === '.' ? '' : dirname(e.path));
    entries.push(e);
  }

  mkdirSync(out, { recursive: true });
  writeFileSync(`${file}.${process.pid}`, cpioGz(entries));
  renameSync(`${file}.${process.pid}`, file);
  console.log(`vm-host: initramfs ${file} (${order.length} modules) built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return file;
}
