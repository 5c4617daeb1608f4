// Signals with handlers in Linux programs (kvm and process): the personality builds Linux's rt_sigframe
// on the program's stack and runs the handler as a syscall returns; rt_sigreturn takes
// it back. Sources: the program itself (raise, kill of its own pid, SIGPIPE), other pVMs
// of the family (kill), a child's end (SIGCHLD). The program: test/linux/linux_signals.c
// (musl-gcc); busybox-static from Debian for the shell's trap and kill. Either missing:
// its tests skip, saying so.
import * as assert from 'uvu/assert';
import { outputOf, vmSuite, withHost } from './_helpers.js';
import { fetchBusybox, muslProgram } from './_linux.js';

const { path: prog, skip: noMusl } = muslProgram('linux_signals');

const { suite, vm } = vmSuite('linux-signals');
const ctx = withHost(suite);

const linuxTest = (title: string, fn: () => Promise<void>, skip: string | false = noMusl) => {
  vm(title, async () => {
    if (skip) return console.warn(`(linux-signals: ${skip}: "${title}" is SKIPPED)`);
    await fn();
  });
};

async function expectOk(mode: string) {
  const { text, status } = await outputOf(await ctx.host.spawn(prog, { args: [mode], memory: '64MiB' }));
  assert.ok(text.includes(`${mode} ok`), text);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  return text;
}

linuxTest('SA_SIGINFO handler for SIGUSR1 runs before raise / kill(getpid()) return: si_signo, si_pid, si_code, its mask', async () => {
  const text = await expectOk('info');
  assert.ok(text.includes('info ok signo 10 pid-is-self code 0'), text);
});
linuxTest('a blocked signal is pending (sigpending) and runs when sigprocmask unblocks it', () => expectOk('mask').then(() => {}));
linuxTest('sigsuspend runs the pending signal, returns EINTR and puts the old mask back', () => expectOk('suspend').then(() => {}));
linuxTest('SIGCHLD runs when a forked child exits; waitpid in the handler reaps it', async () => {
  const text = await expectOk('chld');
  assert.ok(text.includes('chld ok status 5'), text);
});
linuxTest("kill from the parent pVM runs the child's handlers: SIGUSR1 ends pause(), SIGTERM a blocked read (EINTR)", async () => {
  const text = await expectOk('child');
  assert.ok(text.includes('child ok: usr1 paused term eintr'), text);
});
linuxTest('SIGPIPE with a handler: the write fails with EPIPE and the handler runs', () => expectOk('sigpipe').then(() => {}));
linuxTest('SSE registers survive a handler that uses them (fxsave in the frame, fxrstor at sigreturn)', () => expectOk('fp').then(() => {}));
linuxTest('SA_RESETHAND puts SIG_DFL back; SA_NODEFER leaves the signal unblocked in its handler', () => expectOk('resethand').then(() => {}));
linuxTest('SA_RESTART: a read interrupted by a signal from another pVM goes on and returns what comes after', () => expectOk('restart').then(() => {}));

linuxTest('SIGALRM: setitimer one-shot and periodic end pause(), alarm() says what is left, a blocked waitpid is EINTR', () => expectOk('alarm').then(() => {}));

linuxTest('a fork child keeps handlers and mask, nothing pending; execve resets handlers, keeps SIG_IGN and the mask', async () => {
  const text = await expectOk('inherit');
  assert.ok(text.includes('execed ok'), text);
});

linuxTest('SA_ONSTACK: the handler runs on the sigaltstack, which says SS_ONSTACK meanwhile', () => expectOk('altstack').then(() => {}));

linuxTest("the host's pvm.kill('SIGUSR1') runs the program's handler", async () => {
  const pvm = await ctx.host.spawn(prog, { args: ['host'], memory: '64MiB' });
  let text = '';
  let sent = false;
  for await (const chunk of pvm.console) {
    text += (chunk as Buffer).toString('utf8');
    if (!sent && text.includes('ready\n')) sent = pvm.kill('SIGUSR1');
  }
  assert.ok(sent, text);
  assert.ok(text.includes('host ok'), text);
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
});

linuxTest("ppoll's signal mask: a pending signal runs while it waits, ppoll is EINTR, the mask comes back", () => expectOk('ppoll').then(() => {}));

const busybox = fetchBusybox();
const noBusybox = typeof busybox === 'string' ? false : busybox.skip;
const bb = typeof busybox === 'string' ? busybox : '';

async function sh(script: string) {
  return outputOf(await ctx.host.spawn(bb, { args: ['sh', '-c', script], memory: '64MiB' }));
}

linuxTest('busybox sh: trap "echo caught" USR1; kill -USR1 $$ runs the trap', async () => {
  const { text, status } = await sh('trap "echo caught" USR1; kill -USR1 $$; echo after');
  assert.is(text, 'caught\nafter\n');
  assert.equal(status, { kind: 'exit', code: 0 });
}, noBusybox);

linuxTest('busybox sh: sleep 5 & kill $!; wait $! is 143 (ended by SIGTERM), after "Terminated" as on Linux', async () => {
  const { text, status } = await sh('sleep 5 & kill $!; wait $!; echo $?');
  assert.is(text, 'Terminated\n143\n');  // busybox says so on Linux too
  assert.equal(status, { kind: 'exit', code: 0 });
}, noBusybox);

suite.run();
