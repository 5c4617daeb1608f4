// The monitor's --backend=NAME (addon/monitor/backends/registry.h), driven by pvm-drive
// playing the host: the default and `kvm` boot; a name that is unknown or not built is a
// boot error (code 4, BackendUnavailable) that lists the backends built.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { loadAddon } from '../lib/native.js';
import { nativeDir } from '../lib/paths.js';
import { guest, test, vmSuite } from './_helpers.js';

const { suite, vm } = vmSuite('backend option');

function drive(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(join(nativeDir, 'pvm-drive'), [`--monitor=${join(nativeDir, 'pvm-monitor')}`, '--quiet', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

// xen is built where libxen-dev was found (PVM_BACKEND_XEN); the addon's probe knows.
const xenBuilt = !/not built/.test(loadAddon().probeBackend('xen').message ?? '');
const built = xenBuilt ? 'kvm, process, xen' : 'kvm, process';

test('an unknown or unbuilt backend is a boot error naming what was built', async () => {
  for (const name of xenBuilt ? ['nope'] : ['nope', 'xen']) {
    const { status, out } = drive(`--backend=${name}`, guest('exitcode'));
    assert.match(out, new RegExp(`Error code=4 errno=0: backend '${name}' is not known to this monitor \\(built: ${built}\\)`), out);
    assert.match(out, /monitor exited with status 1/, out);
    assert.ok(status !== null, out);
  }
});

// About the kvm backend (and pvm-drive's default, kvm): on kvm only.
vm('kvm, named or by default, boots and runs the guest; --stats names the backend', async () => {
  for (const args of [['--backend=kvm'], []]) {
    const { out } = drive('--stats', ...args, guest('exitcode'));
    assert.match(out, /\[drive\] Exit code=/, out);
    assert.match(out, /pvm-monitor stats: backend=kvm flags=0x[01] /, out);
    assert.match(out, /monitor exited with status 0/, out);
  }
}, { backends: ['kvm'] });

suite.run();
test.run();
