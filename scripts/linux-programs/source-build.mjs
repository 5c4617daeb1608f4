// What the interpreter builds of scripts/linux-programs/ share: running a tool, checking
// the tools are there, fetching a source tarball once and checking it against its pinned
// digest, a fresh work folder with the tarball unpacked, and the "prints the path" entry.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Runs `cmd args` in `cwd`; its stdout (throws with stderr on failure). */
export const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

/** Throws, naming it, for the first of `tools` not on PATH. */
export function requireTools(what, tools) {
  for (const tool of tools) {
    try {
      run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      throw new Error(`${what}: ${tool} is not installed${tool === 'musl-gcc' ? ' (Debian: musl-tools)' : ''}`);
    }
  }
}

/**
 * `url` downloaded once into `dir` as `file` and checked: its `algorithm` digest in
 * `encoding` must be `digest` (a file that does not match is removed). Returns its path.
 */
export async function pinnedTarball(what, { url, dir, file, algorithm, encoding, digest }) {
  const path = join(dir, file);
  if (!existsSync(path)) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${what}: ${url}: HTTP ${res.status}`);
    writeFileSync(`${path}.part`, Buffer.from(await res.arrayBuffer()));
    renameSync(`${path}.part`, path);
  }
  const got = createHash(algorithm).update(readFileSync(path)).digest(encoding);
  if (got !== digest) {
    rmSync(path);
    throw new Error(`${what}: ${file} does not match its pinned ${algorithm}`);
  }
  return path;
}

/** A fresh `dir/name` with `tarball` unpacked in it; its path. */
export function unpackFresh(dir, name, tarball) {
  const work = join(dir, name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  run('tar', ['xzf', tarball, '-C', work]);
  return work;
}

/** When `meta` is the script node was started with: prints what `build()` made, or why not. */
export function printWhenRun(meta, build) {
  if (!process.argv[1] || meta.url !== pathToFileURL(process.argv[1]).href) return;
  build().then(
    (path) => console.log(path),
    (err) => {
      console.error(err.message);
      process.exitCode = 1;
    },
  );
}
