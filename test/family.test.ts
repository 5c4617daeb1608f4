import * as assert from 'uvu/assert';
import { type Pvm } from '../lib/index.js';
import { eventually, guest, monitorsUnder, outputOf, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('family');
const ctx = withHost(suite);

// Runs family.pvm in `mode`; every child's console is collected too.
async function family(mode: string, extra: string[] = []) {
  const pvm = await ctx.host.spawn(guest('family'), { args: [mode, ...extra], memory: '16MiB' });
  const children: Pvm[] = [];
  pvm.on('fork', (f) => children.push(f.child));
  const out = await outputOf(pvm);
  return { ...out, children };
}

for (const mode of ['signal', 'handler', 'waitpid', 'shm', 'crash']) {
  vm(`guest ${mode}: ${mode === 'crash' ? 'a crashed child ends its channel and waitpid reports it' : 'works between parent and child'}`, async () => {
    const { text, status } = await family(mode);
    assert.ok(text.includes(`${mode} ok`), text);
    assert.equal(status, { kind: 'exit', code: 0 }, text);
  });
}

vm('the family rule: a pVM may signal ancestors and descendants, not siblings, uncles or strangers', async () => {
  const stranger = await ctx.host.spawn(guest('idle'), { console: 'ignore' });
  const { text, status } = await family('rule', [String(stranger.id)]);
  assert.ok(text.includes('rule ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.ok(stranger.running, 'the stranger was not touched');
  stranger.kill();
  await stranger.exited;
});

vm('host signals: SIGUSR1 reaches the guest, SIGTERM ends it, children run on', async () => {
  const pvm = await ctx.host.spawn(guest('idle'));
  await new Promise<void>((resolve) => pvm.console.on('data', (d: Buffer) => String(d).includes('ready') && resolve()));
  const { child, channel } = await pvm.fork();
  // idle's receive has no handler: USR1 makes it fail with EINTR, which idle reports.
  assert.ok(child.kill('SIGUSR1'));
  let text = '';
  child.console.on('data', (d: Buffer) => (text += d));
  assert.equal(await child.exited, { kind: 'exit', code: 1 });
  assert.ok(await eventually(() => text.includes('EINTR')), text);
  channel.close();
  assert.ok(pvm.running);
  pvm.kill('SIGTERM');
  assert.equal(await pvm.exited, { kind: 'killed', signal: 'SIGTERM' });
  assert.ok(await eventually(() => monitorsUnder().length === 0), String(monitorsUnder()));
});

suite.run();
