// The API reference builds with no warnings: typedoc validates that every exported
// symbol is documented and every {@link} resolves (typedoc.json), warnings are errors.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../lib/paths.js';

test('npm run docs: typedoc with no warnings, every export documented', () => {
  const typedoc = join(packageRoot, 'node_modules', 'typedoc', 'bin', 'typedoc');
  const r = spawnSync(process.execPath, [typedoc, '--emit', 'none'], { cwd: packageRoot, encoding: 'utf8', timeout: 300_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.is(r.status, 0, out);
  assert.not.match(out, /warning|error/i, out);
});

test.run();
