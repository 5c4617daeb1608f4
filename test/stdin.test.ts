// A pvm image's environment (boot-info envp/envc) and standard input (STDIN_READ) from
// the host: test/guests/stdin_echo.c, on every backend. (Linux programs: linux-stdio.test.ts.)
import * as assert from 'uvu/assert';
import type { Pvm } from '../lib/index.js';
import { eventually, guest, outputOf, vmSuite, withHost } from './_helpers.js';

const { suite, vm } = vmSuite('stdin');
const ctx = withHost(suite);

function collect(pvm: Pvm): { readonly text: string } {
  const box = { text: '' };
  pvm.console.setEncoding('utf8').on('data', (d: string) => (box.text += d));
  return box;
}

vm('a pvm image: the env option in its boot-info page, the stdin option through STDIN_READ', async () => {
  const r = await outputOf(await ctx.host.spawn(guest('stdin_echo'), { env: { A: '1', B: 'two words' }, stdin: 'hello' }));
  assert.is(r.text, 'env A=1\nenv B=two words\nready\nhellostdin end 5\n');
  assert.equal(r.status, { kind: 'exit', code: 0 });
  const none = await outputOf(await ctx.host.spawn(guest('stdin_echo')));
  assert.is(none.text, 'no env\nready\nstdin end 0\n');
});

vm("a pvm image with stdin: 'pipe' sleeps in WAIT until the host writes; host forks get stdins of their own", async () => {
  const pvm = await ctx.host.spawn(guest('stdin_echo'), { stdin: 'pipe' });
  const out = collect(pvm);
  assert.ok(await eventually(() => out.text === 'no env\nready\n' && pvm.activity?.state === 'accept'), out.text);
  const { child, channel } = await pvm.fork();
  channel.close();
  const childOut = collect(child);
  pvm.stdin!.write('to the parent ');
  child.stdin!.end('to the child');
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
  assert.is(childOut.text, 'to the childstdin end 12\n');
  assert.ok(await eventually(() => out.text.endsWith('to the parent ')), out.text);
  assert.ok(pvm.running);
  pvm.stdin!.end();
  assert.equal(await pvm.exited, { kind: 'exit', code: 0 });
  assert.is(out.text, 'no env\nready\nto the parent stdin end 14\n');
});

suite.run();
