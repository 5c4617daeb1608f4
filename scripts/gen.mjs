#!/usr/bin/env node
// The one command for every generated file (`npm run gen`): the control protocol's
// committed outputs (scripts/gen-control.mjs) and the ABI headers in the build tree
// (scripts/gen-abi.mjs: build/generated/pvm/abi.h, errno_values.h). With --check it
// writes nothing and exits 1 naming what is stale (test/generated.test.ts runs it).
// The ABI headers are checked only where a build tree exists.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlOutputs, writeOutputs } from './gen-control.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const buildGenerated = join(root, 'build', 'generated', 'pvm');
const ABI_HEADERS = ['abi.h', 'errno_values.h'];

const stale = writeOutputs(root, controlOutputs(root), { check });

// gen-abi.mjs writes abi.h and its siblings next to the path it is given.
function genAbi(outDir) {
  execFileSync(process.execPath, [join(root, 'scripts/gen-abi.mjs'), join(root, 'hypercalls/abi.json'), join(outDir, 'abi.h')]);
}
if (!check) {
  genAbi(buildGenerated);
} else if (existsSync(buildGenerated)) {
  const tmp = mkdtempSync(join(tmpdir(), 'pvm-gen-'));
  try {
    genAbi(tmp);
    for (const name of ABI_HEADERS) {
      const built = join(buildGenerated, name);
      if (!existsSync(built) || readFileSync(built, 'utf8') !== readFileSync(join(tmp, name), 'utf8')) {
        stale.push(`build/generated/pvm/${name} (rebuild: npm run build:native)`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
if (check && stale.length) {
  console.error(`stale generated files (run npm run gen): ${stale.join(', ')}`);
  process.exit(1);
}
