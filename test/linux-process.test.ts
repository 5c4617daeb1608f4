// Linux processes as pVMs (kvm and process): a static Linux program's fork() is a pVM fork, wait4
// waits for the child pVM, kill signals it, and a pipe made before fork works across it
// in both guests. The program: test/linux/linux_proc.c (musl-gcc, built by the build when
// it is installed); busybox-static from Debian for the shell tests (build/debian/).
// Either missing: its tests skip, saying so.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../lib/paths.js';
import { Host, type ForkInfo } from '../lib/index.js';
import { backend, eventually, monitorsUnder, outputOf, vmSuite, withHost } from './_helpers.js';
import { fetchBusybox, muslProgram } from './_linux.js';

const { path: proc, skip: noMusl } = muslProgram('linux_proc');

const { suite, vm } = vmSuite('linux-process');
const ctx = withHost(suite);

const linuxTest = (title: string, fn: () => Promise<void>, skip: string | false = noMusl) => {
  vm(title, async () => {
    if (skip) return console.warn(`(linux-process: ${skip}: "${title}" is SKIPPED)`);
    await fn();
  });
};

/** Runs linux_proc with `args`: its console text (its children's included) and exit status. */
async function runProc(...args: string[]) {
  return outputOf(await ctx.host.spawn(proc, { args, memory: '64MiB' }));
}

async function expectOk(mode: string, ...args: string[]) {
  const { text, status } = await runProc(mode, ...args);
  assert.ok(text.includes(`${mode} ok`), text);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  return text;
}

linuxTest('fork + _exit(3) + waitpid sees 3; each process is a pVM (fork events)', async () => {
  const pvm = await ctx.host.spawn(proc, { args: ['forkwait', '3'], memory: '64MiB' });
  const forks: ForkInfo[] = [];
  pvm.on('fork', (f) => forks.push(f));
  const { text, status } = await outputOf(pvm);
  assert.ok(text.includes('forkwait ok status 3'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.is(forks.length, 1);
  assert.equal(await forks[0]!.child.exited, { kind: 'exit', code: 3 });
});

linuxTest("getpid is the pVM id: the child's is what fork returned, its getppid the parent's", async () => {
  const pvm = await ctx.host.spawn(proc, { args: ['ids'], memory: '64MiB' });
  const forks: ForkInfo[] = [];
  pvm.on('fork', (f) => forks.push(f));
  const { text } = await outputOf(pvm);
  const m = /ids ok parent (\d+) child (\d+)/.exec(text);
  assert.ok(m, text);
  assert.is(Number(m![1]), pvm.id);
  assert.is(Number(m![2]), forks[0]!.child.id);
});

linuxTest('copy-on-write after fork: the child writes its copy, the parent does not see it', () => expectOk('cow').then(() => {}));
linuxTest('MAP_SHARED | MAP_ANONYMOUS is shared across fork (children count into it), MAP_PRIVATE is a copy; over 2 MiB is ENOMEM', () => expectOk('shared').then(() => {}));

linuxTest('wait(-1) reaps any child once each, then ECHILD', () => expectOk('waitany').then(() => {}));
linuxTest('waitpid WNOHANG is 0 while the child runs (blocked on a pipe), then its status', () => expectOk('wnohang').then(() => {}));
linuxTest('waitid fills siginfo as Linux does (CLD_EXITED, pid, status)', () => expectOk('waitid').then(() => {}));
linuxTest('vfork + _exit works (as a fork)', () => expectOk('vfork').then(() => {}));
linuxTest('getrandom differs in parent and child after fork (the child is keyed afresh)', () => expectOk('random').then(() => {}));
linuxTest('nanosleep sleeps', () => expectOk('sleep').then(() => {}));

linuxTest('kill ends a child pVM; wait4 reports the signal sent (SIGTERM, SIGKILL, SIGINT)', async () => {
  const text = await expectOk('kill');
  assert.ok(text.includes('killed by 15\nkilled by 9\nkilled by 2\n'), text);
});

linuxTest('a fork bomb stops at the host\'s maxPvms: fork fails with EAGAIN, nothing crashes', async () => {
  const host = await Host.open({ backend: backend(), maxPvms: 6 });
  try {
    const { text, status } = await outputOf(await host.spawn(proc, { args: ['forkbomb'], memory: '32MiB' }));
    assert.ok(text.includes('forkbomb ok 5 children, then EAGAIN'), text);
    assert.equal(status, { kind: 'exit', code: 0 });
  } finally {
    await host.close();
  }
  assert.ok(await eventually(() => monitorsUnder().length === 0));
});

linuxTest('a pipe made before fork: the child writes, the parent reads to EOF', async () => {
  const text = await expectOk('pipe');
  assert.ok(text.includes('pipe ok: hello through a pipe'), text);
});

linuxTest('4 MiB through pipes both ways (many times the ring: writers block, readers wake)', async () => {
  const text = await expectOk('pipebig', String(4 << 20));
  assert.ok(text.includes(`pipebig ok ${4 << 20} bytes`), text);
});

linuxTest('no reader: EPIPE with SIGPIPE ignored; by default the writer ends (status 141)', () => expectOk('epipe').then(() => {}));
linuxTest('dup2 onto stdout, dup3, fcntl (F_DUPFD_CLOEXEC, FD_CLOEXEC), fstat of a pipe', () => expectOk('dup').then(() => {}));
linuxTest('poll and select on a pipe: timeout, POLLIN, POLLHUP once the writer is gone', () => expectOk('poll').then(() => {}));

linuxTest('execve of /proc/self/exe: same pid, the new environment, inherited fds kept, O_CLOEXEC ones closed', async () => {
  const pvm = await ctx.host.spawn(proc, { args: ['exec', '/proc/self/exe'], memory: '64MiB' });
  const execs: string[] = [];
  pvm.on('fork', (f) => f.child.on('exec', (e) => execs.push(e.image)));
  const { text, status } = await outputOf(pvm);
  assert.ok(text.includes('execed ok pid same env from-exec cloexec closed'), text);
  assert.ok(text.includes('exec ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.equal(execs, [proc]);
});

linuxTest("execve by path: the name is looked up in the image's directory; a missing one is ENOENT", async () => {
  const text = await expectOk('exec', '/usr/local/bin/linux_proc');
  assert.ok(text.includes('execed ok pid same env from-exec cloexec closed'), text);
});

linuxTest('posix_spawn (clone with CLONE_VM|CLONE_VFORK onto its own stack, then execve); ENOENT comes back', async () => {
  const text = await expectOk('spawn');
  assert.ok(text.includes('sleep ok'), text);
});

const busybox = fetchBusybox();
const noBusybox = typeof busybox === 'string' ? false : busybox.skip;
const bb = typeof busybox === 'string' ? busybox : '';

/** busybox sh -c `script`: output of the whole process tree, and the status. */
async function sh(script: string) {
  const pvm = await ctx.host.spawn(bb, { args: ['sh', '-c', script], memory: '64MiB' });
  let forks = 0;
  pvm.on('fork', () => forks++);
  const out = await outputOf(pvm);
  return { ...out, forks };
}

linuxTest("busybox sh -c 'echo hi | wc -c' prints 3: every process of the pipeline a pVM", async () => {
  const { text, status, forks } = await sh('echo hi | wc -c');
  assert.is(text, '3\n');
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.is(forks, 2);
}, noBusybox);

linuxTest("busybox sh -c 'for i in 1 2 3; do echo $i; done | sort -r' (sort exec'd as busybox's applet)", async () => {
  const { text, status } = await sh('for i in 1 2 3; do echo $i; done | sort -r');
  assert.is(text, '3\n2\n1\n');
  assert.equal(status, { kind: 'exit', code: 0 });
}, noBusybox);

linuxTest('busybox sh: a three-stage pipeline, $? of a child, a missing command (127)', async () => {
  const { text, status } = await sh('printf "b\\na\\nb\\n" | sort | uniq -c | wc -l; (exit 5); echo "status $?"; nosuchcmd; echo "then $?"');
  assert.ok(text.startsWith('2\nstatus 5\n'), text);
  assert.ok(text.includes('then 127'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
}, noBusybox);

linuxTest("pvm ps shows a shell pipeline's Linux process tree as pVMs: the shell, then its two children", async () => {
  const pvm = await ctx.host.spawn(bb, { args: ['sh', '-c', 'sleep 30 | sleep 30'], memory: '64MiB' });
  const forks: ForkInfo[] = [];
  pvm.on('fork', (f) => forks.push(f));
  assert.ok(await eventually(() => forks.length === 2), 'the shell did not fork both sides of its pipeline');
  const children = forks.map((f) => f.child.id);
  type Entry = { id: number; parentId: number; children: Entry[] };
  const r = spawnSync(process.execPath, [join(packageRoot, 'bin', 'pvm.js'), 'ps', '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.status, 0, r.stderr);
  const hosts = JSON.parse(r.stdout) as Array<{ pid: number; roots: Entry[] }>;
  const shell = hosts.find((h) => h.pid === process.pid)?.roots.find((e) => e.id === pvm.id);
  assert.ok(shell, r.stdout);
  assert.equal(shell!.children.map((c) => [c.id, c.parentId]).sort(), children.map((id) => [id, pvm.id]).sort());
  for (const p of [...forks.map((f) => f.child), pvm]) p.kill('SIGKILL');
  await Promise.all([...forks.map((f) => f.child.exited), pvm.exited]);
}, noBusybox);

suite.run();
