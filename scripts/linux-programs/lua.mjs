// Lua 5.4 as a static Linux program, built from its unmodified sources: Debian bookworm's
// source package lua5.4 (5.4.4), whose upstream tarball `lua5.4_5.4.4.orig.tar.gz` is
// fetched from deb.debian.org (checked against its pinned sha256; it is byte for byte
// lua.org's lua-5.4.4.tar.gz) and cached in build/linux-programs/. The interpreter `lua`
// is linked from src/ (every file but luac.c) with musl-gcc -static, LUA_USE_POSIX (so
// io.popen, os.execute's status and mkstemp are the POSIX ones) and without readline or
// dlopen, as the upstream Makefile's "posix" target does.
//
//   node scripts/linux-programs/lua.mjs        prints the path of the built lua
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const FILE = 'lua5.4_5.4.4.orig.tar.gz';
const TARBALL = `https://deb.debian.org/debian/pool/main/l/lua5.4/${FILE}`;
const SHA256 = '164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61';
const SOURCES = 'lua-5.4.4/src';
const DEFINES = ['-DLUA_COMPAT_5_3', '-DLUA_USE_POSIX'];

const root = join(import.meta.dirname, '..', '..');
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

/** Has `tool` on PATH. */
function have(tool) {
  try {
    run('sh', ['-c', `command -v ${tool}`]);
    return true;
  } catch {
    return false;
  }
}

/** The tarball, downloaded once into `dir` and checked. */
async function tarball(dir) {
  const file = join(dir, FILE);
  if (!existsSync(file)) {
    const res = await fetch(TARBALL);
    if (!res.ok) throw new Error(`lua: ${TARBALL}: HTTP ${res.status}`);
    writeFileSync(`${file}.part`, Buffer.from(await res.arrayBuffer()));
    renameSync(`${file}.part`, file);
  }
  const got = createHash('sha256').update(readFileSync(file)).digest('hex');
  if (got !== SHA256) {
    rmSync(file);
    throw new Error(`lua: ${FILE} does not match its pinned sha256`);
  }
  return file;
}

/**
 * Builds (once) and returns the path of a static `lua`. Throws, saying what is missing,
 * where it cannot be built (no musl-gcc, no network).
 */
export async function buildLua(dir = join(root, 'build', 'linux-programs')) {
  const lua = join(dir, 'lua');
  if (existsSync(lua)) return lua;
  for (const tool of ['musl-gcc', 'tar']) {
    if (!have(tool)) throw new Error(`lua: ${tool} is not installed${tool === 'musl-gcc' ? ' (Debian: musl-tools)' : ''}`);
  }
  mkdirSync(dir, { recursive: true });
  const work = join(dir, 'lua-build');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  run('tar', ['xzf', await tarball(dir), '-C', work]);
  const src = join(work, SOURCES);
  const files = readdirSync(src).filter((f) => f.endsWith('.c') && f !== 'luac.c').sort();
  run('musl-gcc', ['-static', '-O2', '-std=gnu99', ...DEFINES, '-o', `${lua}.part`, ...files, '-lm'], src);
  renameSync(`${lua}.part`, lua);
  rmSync(work, { recursive: true, force: true });
  return lua;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildLua().then(
    (path) => console.log(path),
    (err) => {
      console.error(err.message);
      process.exitCode = 1;
    },
  );
}
