// QuickJS (2021-03-27) as a static Linux program, built from its unmodified sources:
// they come in the npm registry's `qjsc` package (deps/quickjs_2021_03_27/, MIT), whose
// tarball is fetched (checked against its pinned sha512), never installed: its own install
// script builds a Node addon we do not want. Two steps, as QuickJS's Makefile does them:
// a host `qjsc` (gcc) compiles the REPL's and qjscalc's JavaScript to C, then `qjs` is
// linked with musl-gcc -static. The result is cached in build/linux-programs/.
//
//   node scripts/linux-programs/quickjs.mjs        prints the path of the built qjs
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pinnedTarball, printWhenRun, requireTools, run, unpackFresh } from './source-build.mjs';

const TARBALL = 'https://registry.npmjs.org/qjsc/-/qjsc-0.3.0.tgz';
const SHA512 = 'a7+cU6/IVcZbIejffdt/wZVMX6LL2MDL3HQ9Zb5Gm23G9DvBMS/z9GHFxz39bAvp2PvMOM+ypSOAyokt2DdZ2w==';
const SOURCES = 'package/deps/quickjs_2021_03_27';
const ENGINE = ['quickjs.c', 'libregexp.c', 'libunicode.c', 'cutils.c', 'quickjs-libc.c', 'libbf.c'];
const DEFINES = ['-DCONFIG_VERSION="2021-03-27"', '-D_GNU_SOURCE', '-DCONFIG_BIGNUM'];

const root = join(import.meta.dirname, '..', '..');
/**
 * Builds (once) and returns the path of a static `qjs`. Throws, saying what is missing,
 * where it cannot be built (no musl-gcc or gcc, no network).
 */
export async function buildQuickJs(dir = join(root, 'build', 'linux-programs')) {
  const qjs = join(dir, 'qjs');
  if (existsSync(qjs)) return qjs;
  requireTools('quickjs', ['musl-gcc', 'gcc', 'tar']);
  mkdirSync(dir, { recursive: true });
  const tarball = await pinnedTarball('quickjs', { url: TARBALL, dir, file: 'qjsc-0.3.0.tgz', algorithm: 'sha512', encoding: 'base64', digest: SHA512 });
  const work = unpackFresh(dir, 'quickjs-build', tarball);
  const src = join(work, SOURCES);
  // The host compiler of JavaScript to C, and the two scripts qjs embeds.
  run('gcc', ['-O1', ...DEFINES, '-o', join(work, 'qjsc'), 'qjsc.c', ...ENGINE, '-lm', '-lpthread', '-ldl'], src);
  run(join(work, 'qjsc'), ['-c', '-o', join(work, 'repl.c'), '-m', 'repl.js'], src);
  run(join(work, 'qjsc'), ['-fbignum', '-c', '-o', join(work, 'qjscalc.c'), 'qjscalc.js'], src);
  run('musl-gcc', ['-static', '-O2', ...DEFINES, '-o', `${qjs}.part`, 'qjs.c', join(work, 'repl.c'), join(work, 'qjscalc.c'), ...ENGINE, '-lm', '-lpthread'], src);
  renameSync(`${qjs}.part`, qjs);
  rmSync(work, { recursive: true, force: true });
  return qjs;
}

printWhenRun(import.meta, buildQuickJs);
