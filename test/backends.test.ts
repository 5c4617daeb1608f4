// Backends at Host.open: which one runs, what each answers when none can (issue 16 item 4).
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as assert from 'uvu/assert';
import { AUTO_ORDER, Host, PvmError } from '../lib/index.js';
import { noBackendMessage } from '../lib/backends.js';
import { loadAddon } from '../lib/native.js';
import { guest, outputOf, test, vmSuite } from './_helpers.js';

const { vm, suite } = vmSuite('backends');

/** Runs `fn` with `env` set (undefined: unset), then puts back what was there. */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(env);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

async function openError(options: Parameters<typeof Host.open>[0], env: Record<string, string> = {}): Promise<PvmError> {
  try {
    const host = await withEnv(env, () => Host.open(options));
    await host.close();
  } catch (err) {
    assert.instance(err, PvmError);
    return err as PvmError;
  }
  assert.unreachable(`Host.open(${JSON.stringify(options)}) did not fail`);
  throw new Error("unreachable");
}

function monitorArgs(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

// The vm tests here are about kvm (the backend 'auto' picks here, and naming it): on kvm only.
// 'auto' is what Host.open() does with no PVM_BACKEND (the test's half sets it to kvm).
vm("'auto' (the default) picks kvm here and says so, on the host and every pVM", async () => {
  const host = await withEnv({ PVM_BACKEND: undefined }, () => Host.open());
  try {
    assert.is(host.backend, 'kvm');
    const info = host.backendInfo;
    assert.is(info.name, 'kvm');
    if (info.name !== 'kvm') return;
    assert.ok(['kvm_pvm', 'hardware'].includes(info.kvm.flavour), info.kvm.flavour);
    assert.is(info.kvm.apiVersion, 12);
    const pvm = await host.spawn(guest('idle'));
    assert.is(pvm.backend, 'kvm');
    // The monitor's Ready says the same flavour the host's probe found.
    assert.equal(pvm.backendInfo, info);
    assert.ok(monitorArgs(pvm.pid).includes('--backend=kvm'), monitorArgs(pvm.pid).join(' '));
    pvm.kill('SIGKILL');
    await pvm.exited;
  } finally {
    await host.close();
  }
}, { backends: ['kvm'] });

vm("an explicit 'kvm' runs kvm; pooled monitors are started for it too", async () => {
  const host = await Host.open({ backend: 'kvm', spawnPool: 1, spawnPoolMemory: '16MiB' });
  try {
    assert.is(host.backend, 'kvm');
    assert.is(host.stats().pooledMonitors, 1);
    const pvm = await host.spawn(guest('hello'), { memory: '16MiB', args: ['x'] });
    // It came from the pool (--prepare-ram), and that monitor was started for kvm.
    const args = monitorArgs(pvm.pid);
    assert.ok(args.includes('--backend=kvm') && args.some((a) => a.startsWith('--prepare-ram=')), args.join(' '));
    const { status } = await outputOf(pvm);
    assert.equal(status, { kind: 'exit', code: 0 });
    assert.is(pvm.backend, 'kvm');
  } finally {
    await host.close();
  }
}, { backends: ['kvm'] });

vm('PVM_BACKEND sets the default; an option overrides it', async () => {
  const e = await openError({}, { PVM_BACKEND: 'xen' });
  assert.is(e.code, 'ENOBACKEND');
  const host = await withEnv({ PVM_BACKEND: 'xen' }, () => Host.open({ backend: 'kvm' }));
  assert.is(host.backend, 'kvm');
  await host.close();
}, { backends: ['kvm'] });

// What xen answers here: "not built into this pvm", or (built where libxen-dev was
// found) why it cannot run here, e.g. not a Xen dom0.
const answerOf = (backend: 'xen') => loadAddon().probeBackend(backend).message ?? '';

test("'xen', not built or not runnable here: ENOBACKEND with the reason", async () => {
  for (const backend of ['xen'] as const) {
    if (loadAddon().probeBackend(backend).ok) continue;  // in a Xen dom0
    const e = await openError({ backend });
    assert.is(e.code, 'ENOBACKEND');
    assert.is(e.message, `backend ${backend}: ${answerOf(backend)}`);
  }
});

test('an unknown backend is EINVAL, from the option or from PVM_BACKEND', async () => {
  const e = await openError({ backend: 'vmware' as never });
  assert.is(e.code, 'EINVAL');
  assert.match(e.message, /^backend: unknown backend "vmware" \(one of 'auto', 'kvm', 'xen', 'process'\)/);
  const fromEnv = await openError({}, { PVM_BACKEND: 'qemu' });
  assert.is(fromEnv.code, 'EINVAL');
  assert.match(fromEnv.message, /^PVM_BACKEND: unknown backend "qemu"/);
});

test("'auto' without a usable kvm picks process, and says so", async () => {
  // PVM_KVM_DEVICE points kvm's probe at another device path: here, none.
  const env = { PVM_KVM_DEVICE: '/nonexistent/kvm' };
  const host = await withEnv(env, () => Host.open({ backend: 'auto' }));
  try {
    assert.is(host.backend, 'process');
    assert.is(host.backendInfo.name, 'process');
    const pvm = await host.spawn(guest('hello'), { memory: '16MiB', args: ['x'] });
    assert.is(pvm.backend, 'process');
    assert.equal((await outputOf(pvm)).status, { kind: 'exit', code: 0 });
  } finally {
    await host.close();
  }
  // An explicit kvm that cannot open keeps its own code, with the errno.
  const kvm = await openError({ backend: 'kvm' }, env);
  assert.is(kvm.code, 'ENOKVM');
  assert.is(kvm.errno, osConstants.errno.ENOENT);
  assert.is(kvm.message, 'no usable KVM: /nonexistent/kvm: No such file or directory');
});

test("the order 'auto' tries, and its message for any answers", () => {
  assert.equal(AUTO_ORDER, ['kvm', 'xen', 'process']);
  assert.is(
    noBackendMessage([
      ['kvm', { ok: false, errno: 13, message: '/dev/kvm: Permission denied' }],
      ['process', { ok: false, errno: 0 }],
    ]),
    'no backend can run here: kvm: /dev/kvm: Permission denied; process: unknown reason',
  );
});

suite.run();
test.run();
