// A Xen hypervisor with VM forking (xc_memshr_fork): Debian's own source package, built
// with Debian's config plus CONFIG_MEM_SHARING, cached per version. Debian's hypervisor
// has no memory sharing (xc_memshr_fork fails with ENOSYS). Two changes, both outside
// what upstream supports, fine for a test host:
// - CONFIG_MEM_SHARING needs CONFIG_UNSUPPORTED;
// - mem_sharing_control() allows sharing only on Intel VMX; QEMU TCG emulates AMD SVM,
//   so its `|| !cpu_has_vmx` test is dropped.
// apt's deb-src lists live in a private folder: this machine's apt set-up is not touched.
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const SOURCES = [
  'deb-src http://deb.debian.org/debian bookworm main',
  'deb-src http://deb.debian.org/debian bookworm-updates main',
  'deb-src http://deb.debian.org/debian-security bookworm-security main',
];

/** apt-get with a private source list, lists and cache under `dir`. */
function privateApt(dir, args, cwd) {
  const opts = [
    `Dir::Etc::SourceList=${join(dir, 'sources.list')}`,
    'Dir::Etc::SourceParts=-',
    `Dir::State::Lists=${join(dir, 'lists')}`,
    `Dir::Cache=${join(dir, 'cache')}`,
    'APT::Sandbox::User=root',
  ].flatMap((o) => ['-o', o]);
  // apt's chatter (and the 404s of a version the mirror lacks) only when it fails.
  try {
    execFileSync('apt-get', ['-qq', ...opts, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    throw new Error(`apt-get ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Xen source versions in the deb-src lists, `version` first, then the others newest first. */
function sourceVersions(apt, version) {
  const opts = ['SourceList=' + join(apt, 'sources.list'), 'SourceParts=-'].map((o) => `Dir::Etc::${o}`);
  opts.push(`Dir::State::Lists=${join(apt, 'lists')}`, `Dir::Cache=${join(apt, 'cache')}`);
  const out = execFileSync('apt-cache', [...opts.flatMap((o) => ['-o', o]), 'madison', 'xen'], { encoding: 'utf8' });
  const listed = [...out.matchAll(/^\s*xen \| (\S+) \| .* Sources$/gm)].map((m) => m[1]);
  return [version, ...listed.filter((v) => v !== version && v.startsWith(version.split('.').slice(0, 2).join('.')))];
}

/**
 * A Xen source tree with Debian's patches applied (downloaded once): the hypervisor
 * package's own version, or, when the archive does not serve that one's source (some
 * mirrors lack the security archive's sources), another of the same Xen release.
 */
function source(work, version) {
  const apt = join(work, 'apt');
  mkdirSync(join(apt, 'lists/partial'), { recursive: true });
  mkdirSync(join(apt, 'cache/archives/partial'), { recursive: true });
  mkdirSync(join(work, 'src'), { recursive: true });
  writeFileSync(join(apt, 'sources.list'), `${SOURCES.join('\n')}\n`);
  const cached = readdirSync(join(work, 'src'), { withFileTypes: true }).find((d) => d.name.startsWith('xen-'));
  if (cached) return join(work, 'src', cached.name);
  privateApt(apt, ['update']);
  const dl = join(work, 'src', `download-${process.pid}`);
  for (const v of sourceVersions(apt, version)) {
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl, { recursive: true });
    try {
      privateApt(apt, ['source', '--download-only', `xen=${v}`], dl);
    } catch (e) {
      console.log(`xen-host: the source of xen ${v} could not be downloaded (${/404\s+Not Found/.test(e.message) ? '404' : e.message.split('\n').at(-2)}); trying another`);
      continue;
    }
    const dsc = readdirSync(dl).find((f) => f.endsWith('.dsc'));
    execFileSync('dpkg-source', ['--no-check', '-x', dsc, 'tree'], { cwd: dl, stdio: ['ignore', 'ignore', 'inherit'] });
    const tree = join(work, 'src', `xen-${v}`);
    renameSync(join(dl, 'tree'), tree);
    rmSync(dl, { recursive: true, force: true });
    return tree;
  }
  throw new Error(`xen-host: no source of xen ${version.split('+')[0]} could be downloaded`);
}

/**
 * The hypervisor ELF with memory sharing for Debian's hypervisor package `pkg`
 * ({ version, dir } from debianPackage): built once (1-3 min), then cached.
 */
export function memshrHypervisor(root, pkg) {
  const work = join(root, 'build/xen-host/memshr');
  const out = join(work, `xen-memshr-${pkg.version}`);
  if (existsSync(out)) return out;
  const started = Date.now();
  console.log(`xen-host: building a hypervisor with CONFIG_MEM_SHARING from Debian's xen ${pkg.version} (once)`);
  const tree = source(work, pkg.version);
  const xen = join(tree, 'xen');
  const config = readdirSync(join(pkg.dir, 'boot')).find((f) => f.endsWith('.config'));
  copyFileSync(join(pkg.dir, 'boot', config), join(xen, '.config'));
  appendFileSync(join(xen, '.config'), 'CONFIG_UNSUPPORTED=y\nCONFIG_MEM_SHARING=y\n');
  const sharing = join(xen, 'arch/x86/mm/mem_sharing.c');
  const text = readFileSync(sharing, 'utf8');
  const patched = text.replace(/ \|\| !cpu_has_vmx/, '');
  if (patched === text && !text.includes('/* pvm: any HAP */')) throw new Error(`xen-host: no "|| !cpu_has_vmx" test in ${sharing} to drop`);
  if (patched !== text) writeFileSync(sharing, patched.replace(/(mem_sharing_control\([^)]*\)\s*\{)/, '$1 /* pvm: any HAP */'));
  const make = (args) => execFileSync('make', ['-C', xen, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
  make(['olddefconfig']); // (warns that CONFIG_UNSUPPORTED is set twice: the append wins, as meant)
  if (!/^CONFIG_MEM_SHARING=y$/m.test(readFileSync(join(xen, '.config'), 'utf8'))) throw new Error('xen-host: CONFIG_MEM_SHARING did not stay set');
  make([`-j${Math.max(2, (globalThis.navigator?.hardwareConcurrency ?? 2))}`]);
  mkdirSync(work, { recursive: true });
  copyFileSync(join(xen, 'xen'), `${out}.tmp`);
  renameSync(`${out}.tmp`, out);
  console.log(`xen-host: memshr hypervisor built from ${basename(tree)} in ${((Date.now() - started) / 1000).toFixed(0)} s: ${out}`);
  return out;
}
