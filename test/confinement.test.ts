import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { nativeDir } from '../lib/paths.js';
import { consoleOf, guest, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('confinement');
const ctx = withHost(suite);

vm('the seccomp filter refuses what a monitor does not need (opening a file) and allows the rest', async () => {
  const out = execFileSync(join(nativeDir, 'pvm-monitor'), ['--seccomp-selftest'], { encoding: 'utf8' });
  assert.ok(out.includes('open: Operation not permitted'), out);
  assert.ok(out.includes('getpid: allowed'), out);
});

vm('process: the dirty log\'s calls pass only with their arguments (openat of the sealed path, five ioctls, one userfaultfd)', async () => {
  const out = execFileSync(join(nativeDir, 'pvm-monitor'), ['--seccomp-selftest', '--backend=process'], { encoding: 'utf8' });
  assert.ok(out.includes('open: Operation not permitted'), out);
  assert.ok(out.includes('openat /proc/self/pagemap at its address: allowed'), out);
  assert.ok(out.includes('openat /proc/self/pagemap elsewhere: Operation not permitted'), out);
  assert.is(out.match(/^ioctl 0x[0-9a-f]+: Bad file descriptor$/gm)?.length, 5, out);
  assert.is(out.match(/^ioctl 0x[0-9a-f]+ \(not listed\): Operation not permitted$/gm)?.length, 5, out);
  assert.match(out, /^userfaultfd 0x80001: allowed$/m);
  assert.match(out, /^userfaultfd 0x80801 \(not listed\): Operation not permitted$/m);
}, { backends: ['process'] });

vm('a running monitor (and a forked one) has no new privileges, a seccomp filter and only the fds it needs', async () => {
  const pvm = await ctx.host.spawn(guest('idle'));
  await consoleOf(pvm).until('idle: ready');
  const { child, channel } = await pvm.fork();
  for (const p of [pvm, child]) {
    const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(status, /^Seccomp:\s+2$/m);
    const fds = readdirSync(`/proc/${p.pid}/fd`).map((fd) => readlinkSync(`/proc/${p.pid}/fd/${fd}`));
    // stdio, the control socket, /dev/kvm and its VM and vCPU, eventfds and pidfds (and
    // on process a fork child's dirty log: a userfaultfd and its own pagemap): no files
    // of the host (the image was closed after loading), nothing inherited from Node.
    const unexpected = fds.filter(
      (l) =>
        !/^(socket:|anon_inode:|pipe:|\/dev\/null$|\/dev\/kvm$|\/dev\/pts\/)/.test(l) &&
        !l.startsWith('/memfd:') &&
        l !== `/proc/${p.pid}/pagemap`,
    );
    assert.equal(unexpected, [], `monitor ${p.pid} holds ${JSON.stringify(fds)}`);
  }
  channel.close();
  await child.exited;
  pvm.kill();
  await pvm.exited;
});

suite.run();
