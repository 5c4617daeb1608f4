// Lua 5.4 as a static Linux program, built from its unmodified sources: Debian bookworm's
// source package lua5.4 (5.4.4), whose upstream tarball `lua5.4_5.4.4.orig.tar.gz` is
// fetched from deb.debian.org (checked against its pinned sha256; it is byte for byte
// lua.org's lua-5.4.4.tar.gz) and cached in build/linux-programs/. The interpreter `lua`
// is linked from src/ (every file but luac.c) with musl-gcc -static, LUA_USE_POSIX (so
// io.popen, os.execute's status and mkstemp are the POSIX ones) and without readline or
// dlopen, as the upstream Makefile's "posix" target does.
//
//   node scripts/linux-programs/lua.mjs        prints the path of the built lua
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pinnedTarball, printWhenRun, requireTools, run, unpackFresh } from './source-build.mjs';

const FILE = 'lua5.4_5.4.4.orig.tar.gz';
const TARBALL = `https://deb.debian.org/debian/pool/main/l/lua5.4/${FILE}`;
const SHA256 = '164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61';
const SOURCES = 'lua-5.4.4/src';
const DEFINES = ['-DLUA_COMPAT_5_3', '-DLUA_USE_POSIX'];

const root = join(import.meta.dirname, '..', '..');

/**
 * Builds (once) and returns the path of a static `lua`. Throws, saying what is missing,
 * where it cannot be built (no musl-gcc, no network).
 */
export async function buildLua(dir = join(root, 'build', 'linux-programs')) {
  const lua = join(dir, 'lua');
  if (existsSync(lua)) return lua;
  requireTools('lua', ['musl-gcc', 'tar']);
  mkdirSync(dir, { recursive: true });
  const tarball = await pinnedTarball('lua', { url: TARBALL, dir, file: FILE, algorithm: 'sha256', encoding: 'hex', digest: SHA256 });
  const work = unpackFresh(dir, 'lua-build', tarball);
  const src = join(work, SOURCES);
  const files = readdirSync(src).filter((f) => f.endsWith('.c') && f !== 'luac.c').sort();
  run('musl-gcc', ['-static', '-O2', '-std=gnu99', ...DEFINES, '-o', `${lua}.part`, ...files, '-lm'], src);
  renameSync(`${lua}.part`, lua);
  rmSync(work, { recursive: true, force: true });
  return lua;
}

printWhenRun(import.meta, buildLua);
