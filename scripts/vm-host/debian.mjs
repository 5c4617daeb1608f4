// Debian packages for a VM host: tools installed on this machine (apt-get install) and
// packages only unpacked into a cache (apt-get download + dpkg -x), one folder per
// package version, so a second run finds them and downloads nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', ...opts });
const quiet = (cmd, args) => {
  try {
    return run(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return undefined;
  }
};
const apt = (args) =>
  run('apt-get', ['-q', '-o', 'APT::Sandbox::User=root', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });

let updated = false;
function aptUpdate() {
  if (updated) return;
  console.log('vm-host: apt-get update');
  apt(['update']);
  updated = true;
}

/** Installs the packages that are not installed yet (as root; says what is missing otherwise). */
export function aptInstall(packages) {
  const missing = packages.filter((p) => !/^install ok installed$/m.test(quiet('dpkg-query', ['-W', '-f', '${Status}\n', p]) ?? ''));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`vm-host: needs the Debian packages ${missing.join(' ')} (run as root to install them)`);
  console.log(`vm-host: installing ${missing.join(' ')}`);
  aptUpdate();
  apt(['install', '-y', '--no-install-recommends', ...missing]);
}

/** The candidate version of a package, updating apt's lists once if it has none. */
function candidate(name) {
  const find = () => /^\s*Candidate:\s*(\S+)/m.exec(quiet('apt-cache', ['policy', name]) ?? '')?.[1];
  let version = find();
  if (!version || version === '(none)') {
    aptUpdate();
    version = find();
  }
  if (!version || version === '(none)') throw new Error(`vm-host: no Debian package ${name}`);
  return version;
}

/** The package that `meta` depends on whose name matches `re` (e.g. linux-image-amd64's kernel). */
export function dependency(meta, re) {
  candidate(meta); // makes sure apt's lists are there
  const dep = [...run('apt-cache', ['depends', meta]).matchAll(/^\s*Depends:\s*(\S+)/gm)].map((m) => m[1]).find((d) => re.test(d));
  if (!dep) throw new Error(`vm-host: ${meta} depends on no package matching ${re}`);
  return dep;
}

/**
 * Unpacks package `name` (its candidate version) into `<cache>/<name>_<version>/` and
 * returns { name, version, dir }. `prepare(dir)` runs once on a fresh unpack (e.g. depmod).
 */
export function debianPackage(name, cache, prepare) {
  const version = candidate(name);
  const dir = join(cache, `${name}_${version.replace(/:/g, '%3a')}`);
  if (existsSync(dir)) return { name, version, dir };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const started = Date.now();
  const download = (stderr) =>
    run('apt-get', ['-q', '-o', 'APT::Sandbox::User=root', 'download', `${name}=${version}`], { cwd: tmp, stdio: ['ignore', 'ignore', stderr] });
  try {
    download('pipe');
  } catch {
    aptUpdate(); // stale lists can name a file the archive no longer has
    if (candidate(name) !== version) {
      rmSync(tmp, { recursive: true, force: true });
      return debianPackage(name, cache, prepare);
    }
    download('inherit');
  }
  const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
  run('dpkg', ['-x', join(tmp, deb), join(tmp, 'root')]);
  prepare?.(join(tmp, 'root'));
  try {
    renameSync(join(tmp, 'root'), dir);
  } catch (e) {
    if (!existsSync(dir)) throw e; // else another run unpacked it meanwhile
  }
  rmSync(tmp, { recursive: true, force: true });
  console.log(`vm-host: ${name} ${version} downloaded and unpacked in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { name, version, dir };
}
