import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { PvmError, type Pvm } from '../lib/index.js';
import { consoleOf, guest, outputOf, vmSuite, withHost, rejects, notOnXen } from './_helpers.js';

const { suite, vm } = vmSuite('exec');
const ctx = withHost(suite);

function rssKb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Rss:\s+(\d+) kB/m);
  return Number(m![1]);
}

vm('EXEC from the guest: bad requests fail and the image goes on; a good one replaces it, same id', async () => {
  const pvm = await ctx.host.spawn(guest('family'), { args: ['exec'] });
  const execs: string[] = [];
  pvm.on('exec', (e) => execs.push(e.image));
  const { text, status } = await outputOf(pvm);
  assert.ok(text.includes('exec: old image fine'), text);
  assert.ok(text.includes(`hello from pVM ${pvm.id}\narg[0]=hello\narg[1]=from\narg[2]=exec`), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.equal(execs, [guest('hello')]);
});

vm('fork + exec: the child becomes another image, talks over the inherited channel, is waited for', async () => {
  const { text, status } = await outputOf(await ctx.host.spawn(guest('family'), { args: ['forkexec'] }));
  assert.ok(text.includes('forkexec ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

vm('pvm.exec(): the host replaces a running image; its family and channels stay', async () => {
  const pvm = await ctx.host.spawn(guest('idle'), { memory: '64MiB' });
  const output = consoleOf(pvm);
  await output.until('idle: ready');
  const { child, channel } = await pvm.fork();
  const info = await pvm.exec(guest('hello'), { args: ['again'], memory: '32MiB' });
  assert.is(info.image, guest('hello'));
  assert.ok(info.replaceUs > 0);
  const status = await pvm.exited;
  const text = output.text();
  assert.ok(text.includes(`hello from pVM ${pvm.id}`) && text.includes('arg[1]=again'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  // The child forked before the exec runs on, channel and all.
  await channel.send('still here');
  assert.is(String(await channel.recv()), 'still here');
  channel.close();
  assert.equal(await child.exited, { kind: 'exit', code: 0 });
});

notOnXen(vm, 'guest RAM is the hypervisor\'s, not in the monitor\'s Rss')("the old image's memory is released by exec", async () => {
  const pvm = await ctx.host.spawn(guest('idle'), { memory: '256MiB', args: ['128'] });
  await consoleOf(pvm).until('idle: ready');
  assert.ok(rssKb(pvm.pid) > 128 * 1024);
  await pvm.exec(guest('idle'), { args: [] });
  assert.ok(rssKb(pvm.pid) < 32 * 1024, `Rss after exec: ${rssKb(pvm.pid)} kB`);
  pvm.kill();
  await pvm.exited;
});

vm('bad exec input: a typed error each, the pVM unchanged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvm-exec-'));
  try {
    const junk = join(dir, 'junk.pvm');
    writeFileSync(junk, Buffer.from('\x7fELF but not really, just bytes'));
    const pvm = await ctx.host.spawn(guest('idle'), { memory: '16MiB' });
    await consoleOf(pvm).until('idle: ready');
    await rejects(pvm.exec(join(dir, 'missing.pvm')), 'ENOENT');
    await rejects(pvm.exec(junk), 'EBADIMAGE');
    await rejects(pvm.exec(guest('big')), 'EIMAGETOOLARGE'); // 64 MiB .bss in 16 MiB
    await rejects(pvm.exec(guest('hello'), { memory: 1024 }), 'EINVAL');
    await rejects(pvm.exec(guest('hello'), { args: ['x'.repeat(70000)] }), 'E2BIG');
    assert.ok(pvm.running);
    // Still the same pVM, working: it forks, and its copy answers.
    const { child, channel } = await pvm.fork();
    await channel.send('ok?');
    assert.is(String(await channel.recv()), 'ok?');
    channel.close();
    await child.exited;
    // And a good exec after all that.
    await pvm.exec(guest('exitcode'), { args: ['9'] });
    assert.equal(await pvm.exited, { kind: 'exit', code: 9 });
    await rejects(pvm.exec(guest('hello')), 'ESRCH');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

suite.run();
