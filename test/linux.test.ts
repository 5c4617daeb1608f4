// Static Linux programs run unchanged as pVMs (kvm and process): an image with no pvm ABI note loads
// with the Linux personality, which gives the program Linux's entry stack and serves its
// syscalls inside the guest. The programs: test/linux/linux_check.c, built with musl-gcc
// by the build when it is installed, and Debian's busybox-static (a static glibc
// program), fetched once into build/debian/. Either missing: its tests skip, saying so.
import * as assert from 'uvu/assert';
import { guest, outputOf, vmSuite, withHost } from './_helpers.js';
import { fetchBusybox, muslProgram } from './_linux.js';

const { path: check, skip: noMusl } = muslProgram('linux_check');

const { suite, vm } = vmSuite('linux');
// The personality's trace of calls it does not serve (read by each monitor at boot).
const traceBefore = process.env.PVM_TRACE;
suite.before(() => {
  process.env.PVM_TRACE = 'syscalls';
});
suite.after(() => {
  if (traceBefore === undefined) delete process.env.PVM_TRACE;
  else process.env.PVM_TRACE = traceBefore;
});
const ctx = withHost(suite);

const onLinux = (title: string, fn: () => Promise<void>, skip: string | false = noMusl, options: { backends?: ['process'] } = {}) => {
  if (skip) {
    console.warn(`(linux: ${skip}: "${title}" is SKIPPED)`);
    vm.skip(`${title} [${skip}]`, options);
  } else vm(title, fn, options);
};

/** Runs linux_check with `args`: its console text and exit status. */
async function runCheck(...args: string[]) {
  return outputOf(await ctx.host.spawn(check, { args, memory: '64MiB' }));
}

onLinux('a musl static program starts as on Linux: argv, envp, auxv (AT_PHDR, AT_ENTRY, AT_RANDOM, AT_EXECFN ...), uname, clocks, getrandom', async () => {
  const first = await runCheck('start', 'one', 'two words');
  assert.ok(first.text.includes(`argc=4 argv[0]=${check} argv[1]=start argv[2]=one argv[3]=two words`), first.text);
  assert.ok(first.text.includes('start ok'), first.text);
  assert.equal(first.status, { kind: 'exit', code: 0 });
  // AT_RANDOM: fresh bytes at every boot.
  const second = await runCheck('start', 'x');
  const random = (t: string) => /random=([0-9a-f]{32})/.exec(t)?.[1];
  assert.ok(random(first.text) && random(second.text), second.text);
  assert.is.not(random(first.text), random(second.text));
});

onLinux('exit(n) is the exit code', async () => {
  const { text, status } = await runCheck('exit', '7');
  assert.ok(text.includes('exiting with 7'), text);
  assert.equal(status, { kind: 'exit', code: 7 });
});

onLinux('malloc-heavy work: brk and anonymous mmap/munmap/mremap, zeroed memory, contents kept', async () => {
  const { text, status } = await runCheck('malloc');
  assert.ok(text.includes('malloc ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

onLinux('TLS: __thread variables through arch_prctl(ARCH_SET_FS)', async () => {
  const { text, status } = await runCheck('tls');
  assert.ok(text.includes('tls ok 43 thread-local'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

onLinux('an unserved syscall is ENOSYS, not a crash, and PVM_TRACE=syscalls names it', async () => {
  const { text, status } = await runCheck('enosys');
  assert.ok(text.includes('enosys ok'), text);
  assert.ok(text.includes('pvm: syscall (999): ENOSYS (not served)'), text);
  assert.ok(text.includes('pvm: syscall socket (41): ENOSYS (not served)'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

onLinux('a syscall site is made a call at load (zpoline) and keeps what the syscall ABI keeps', async () => {
  const { text, status } = await runCheck('site');
  assert.ok(text.includes('site ff d0'), text);  // call *%rax
  assert.ok(Number(/pvm: linux: (\d+) syscall sites are calls/.exec(text)?.[1]) > 0, text);
  assert.ok(text.includes('site ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

onLinux('with PVM_LINUX_REWRITE=off the site stays a syscall and traps (the fallback) to the same answer', async () => {
  process.env.PVM_LINUX_REWRITE = 'off';  // read by the monitor at load: a fresh one, not pooled
  let pvm;
  try {
    pvm = await ctx.host.spawn(check, { args: ['site'], memory: '64MiB', pool: false });
  } finally {
    delete process.env.PVM_LINUX_REWRITE;
  }
  const { text, status } = await outputOf(pvm);
  assert.ok(text.includes('site 0f 05'), text);
  assert.ok(text.includes('pvm: linux: 0 syscall sites are calls'), text);
  assert.ok(text.includes('site ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

onLinux('getpid is served in the guest, many times over', async () => {
  const { text, status } = await runCheck('getpid', '200');
  assert.match(text, /getpid 200 calls [0-9.]+ ns\/call/);
  assert.equal(status, { kind: 'exit', code: 0 });
});

const busybox = fetchBusybox();
const noBusybox = typeof busybox === 'string' ? false : busybox.skip;
const bb = typeof busybox === 'string' ? busybox : '';

onLinux("Debian's busybox-static (static glibc): echo hi", async () => {
  const { text, status } = await outputOf(await ctx.host.spawn(bb, { args: ['echo', 'hi'], memory: '64MiB' }));
  assert.ok(text.endsWith('hi\n'), text);
  // PVM_TRACE=syscalls: its glibc `syscall` sites were found and made calls at load.
  assert.ok(Number(/pvm: linux: (\d+) syscall sites are calls/.exec(text)?.[1]) > 100, text);
  assert.equal(status, { kind: 'exit', code: 0 });
}, noBusybox);

onLinux("Debian's busybox-static: sh -c 'exit 7' passes the exit code through", async () => {
  const pvm = await ctx.host.spawn(bb, { args: ['sh', '-c', 'exit 7'], memory: '64MiB' });
  const { status } = await outputOf(pvm);
  assert.equal(status, { kind: 'exit', code: 7 });
}, noBusybox);

// On process the guest runs inside its monitor process: a `syscall` the rewrite left
// (here all of them) is trapped by the monitor's seccomp filter and served by the
// personality, never by the host: getpid is the pVM id, not the monitor's pid.
vm('process: a syscall that escapes the rewrite is caught (seccomp SIGSYS) and served by the personality, never the host', async () => {
  if (noMusl) return console.warn(`(linux: ${noMusl}: the process trap test is SKIPPED)`);
  process.env.PVM_LINUX_REWRITE = 'off';
  let pvm;
  try {
    pvm = await ctx.host.spawn(check, { args: ['start'], memory: '64MiB', pool: false });
  } finally {
    delete process.env.PVM_LINUX_REWRITE;
  }
  const monitorPid = pvm.pid;
  const { text, status } = await outputOf(pvm);
  assert.ok(text.includes('pvm: linux: 0 syscall sites are calls'), text);
  assert.ok(text.includes(`pid=${pvm.id} ppid=0`), text);
  assert.is.not(pvm.id, monitorPid);
  assert.ok(text.includes('start ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
}, { backends: ['process'] });

// On process where the host refuses address 0 (no CAP_SYS_RAWIO), as PVM_LINUX_REWRITE=nosled
// makes it: no sled, and `mov $N, %eax; syscall` sites call stubs instead; the rest trap.
onLinux("process without a sled: glibc's `mov $N, %eax; syscall` sites call stubs, the others trap, all served", async () => {
  process.env.PVM_LINUX_REWRITE = 'nosled';
  let pvm;
  let site;
  try {
    pvm = await ctx.host.spawn(bb, { args: ['sh', '-c', 'echo hi | wc -c'], memory: '64MiB', pool: false });
    site = await ctx.host.spawn(check, { args: ['site'], memory: '64MiB', pool: false });
  } finally {
    delete process.env.PVM_LINUX_REWRITE;
  }
  const { text, status } = await outputOf(pvm);
  assert.ok(Number(/pvm: linux: (\d+) syscall sites are calls/.exec(text)?.[1]) > 100, text);
  assert.ok(text.endsWith('3\n'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  const s = await outputOf(site);
  assert.ok(s.text.includes('site 0f 05'), s.text); // not that form: left to trap
  assert.ok(s.text.includes('site ok'), s.text);
  assert.equal(s.status, { kind: 'exit', code: 0 });
}, noMusl || noBusybox, { backends: ['process'] });

// What a Linux program has at address 0 (the sled; on process a mapping of the monitor's
// own, with its syscall entry) goes with it: a pvm image exec'd in its place faults on a
// null read again.
onLinux('a pvm image exec\'d over a Linux program faults on a null read (the sled is gone)', async () => {
  const pvm = await ctx.host.spawn(bb, { args: ['sleep', '30'], memory: '64MiB' });
  await pvm.exec(guest('fault'), { args: ['null'], memory: '16MiB' });
  const { status } = await outputOf(pvm);
  assert.is(status.kind, 'fault', JSON.stringify(status, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
  if (status.kind !== 'fault') return;
  assert.is(status.fault.vector, 14);
  assert.is(status.fault.address, 0n);
}, noBusybox);

suite.run();
