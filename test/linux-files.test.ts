// The pVM's files (kvm and process): a static Linux program spawned with `files: { dir }` sees that
// host directory as `/`, in its own memory: writes stay in the pVM (never in the host
// directory), a fork child gets a copy-on-write copy, execve keeps the tree and the open
// descriptors, nothing outside the directory is reachable. Programs:
// test/linux/linux_files.c (musl-gcc, built when installed) and Debian's busybox-static
// (build/debian/); either missing, its tests skip, saying so.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { PvmError } from '../lib/index.js';
import { backend, outputOf, vmSuite, withHost } from './_helpers.js';
import { fetchBusybox, muslProgram } from './_linux.js';

const { path: prog, skip: noMusl } = muslProgram('linux_files');

const { suite, vm } = vmSuite('linux-files');
const ctx = withHost(suite);

const linuxTest = (title: string, fn: () => Promise<void>, skip: () => string | false = () => noMusl) => {
  vm(title, async () => {
    const why = skip();
    if (why) return console.warn(`(linux-files: ${why}: "${title}" is SKIPPED)`);
    await fn();
  });
};

// The host directory given to the pVMs, and a file beside it that must stay out of reach.
let base = '';
let dir = '';
const data = Buffer.alloc(100_000);
for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 8)) & 0xff;
const words = 'pear\napple\nfig\nbanana\napple pie\n';

/** The host directory's files, name -> contents, to compare before and after. */
function snapshotDir(d: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(d, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    out.set(p, e.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : e.isSymbolicLink() ? 'link' : 'dir');
  }
  return out;
}

suite.before(() => {
  base = mkdtempSync(join(tmpdir(), 'pvm-files-'));
  dir = join(base, 'root');
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(dir, 'words.txt'), words);
  writeFileSync(join(dir, 'sub', 'data.bin'), data);
  writeFileSync(join(dir, 'sub', 'deeper', 'empty'), '');
  writeFileSync(join(base, 'outside.txt'), 'secret\n');
  symlinkSync(base, join(dir, 'up'));               // a way out, if links were followed
  symlinkSync('/etc/passwd', join(dir, 'passwd'));
});
suite.after(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

async function run(args: string[], image = prog) {
  return outputOf(await ctx.host.spawn(image, { args, memory: '64MiB', files: { dir } }));
}

linuxTest('a musl program writes, reads back, appends, seeks, truncates, lists, renames, unlinks; errors as Linux', async () => {
  const before = snapshotDir(base);
  const { text, status } = await run(['rw']);
  assert.ok(text.includes('rw ok'), text);
  assert.ok(text.includes(`exe=${prog}\n`), text);  // readlink("/proc/self/exe"): the image path
  assert.equal(status, { kind: 'exit', code: 0 }, text);
  assert.equal(snapshotDir(base), before);
});

linuxTest("the directory's files are the pVM's /: contents and listings", async () => {
  const cat = await run(['cat', '/words.txt']);
  assert.is(cat.text.replace(/^pvm: .*\n/gm, ''), words);
  const ls = await run(['ls', '/']);
  assert.ok(ls.text.includes('ls: sub words.txt\n'), ls.text);  // the symbolic links are left out
  const deeper = await run(['ls', '/sub']);
  assert.ok(deeper.text.includes('ls: data.bin deeper\n'), deeper.text);
});

linuxTest('writes stay in the pVM: the host directory is never written', async () => {
  const before = snapshotDir(base);
  const w = await run(['write', '/words.txt', 'overwritten']);
  assert.ok(w.text.includes('wrote /words.txt'), w.text);
  const n = await run(['write', '/new.txt', 'new']);
  assert.ok(n.text.includes('wrote /new.txt'), n.text);
  assert.equal(snapshotDir(base), before);
  assert.is(readFileSync(join(dir, 'words.txt'), 'utf8'), words);
  // And each pVM starts from the directory again.
  const cat = await run(['cat', '/words.txt']);
  assert.ok(cat.text.endsWith(words), cat.text);
});

linuxTest('nothing outside the directory is reachable: .. of / is /, links are not there', async () => {
  for (const path of ['/../outside.txt', '/sub/../../outside.txt', '/up/outside.txt', '/passwd', '/etc/passwd']) {
    const { text, status } = await run(['cat', path]);
    assert.ok(text.includes(`cat ${path}: errno 2`), text);  // ENOENT
    assert.equal(status, { kind: 'exit', code: 2 });
  }
});

linuxTest("a fork child sees the parent's files; its writes stay its own (copy-on-write)", async () => {
  const { text, status } = await run(['fork']);
  assert.ok(text.includes('child saw parent, wrote its own'), text);
  assert.ok(text.includes('fork ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

linuxTest('execve keeps the files and the open descriptors (with their offsets)', async () => {
  const { text, status } = await run(['exec']);
  assert.ok(text.includes('stdin: across exec\n'), text);
  assert.ok(text.includes('file: kept across exec\n'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
});

linuxTest('without the option a Linux program has an empty / of its own to write to', async () => {
  const { text, status } = await outputOf(await ctx.host.spawn(prog, { args: ['rw'], memory: '64MiB' }));
  assert.ok(text.includes('rw ok'), text);
  assert.equal(status, { kind: 'exit', code: 0 });
  const ls = await outputOf(await ctx.host.spawn(prog, { args: ['ls', '/'], memory: '64MiB' }));
  assert.ok(ls.text.includes('ls: \n'), ls.text);
});

vm('files: a missing directory is ENOENT, a file EINVAL, a bad value EINVAL', async () => {
  for (const [files, code] of [[{ dir: join(base, 'nope') }, 'ENOENT'], [{ dir: join(base, 'outside.txt') }, 'EINVAL'], [{} as { dir: string }, 'EINVAL']] as const) {
    try {
      await ctx.host.spawn(prog, { files });
      assert.unreachable('spawn should reject');
    } catch (err) {
      assert.instance(err, PvmError);
      assert.is((err as PvmError).code, code);
    }
  }
});

linuxTest('files that do not fit in guest RAM beside the program: ENOMEM, nothing left running', async () => {
  const big = mkdtempSync(join(tmpdir(), 'pvm-files-big-'));
  try {
    writeFileSync(join(big, 'huge'), '');
    truncateSync(join(big, 'huge'), 20 << 20);  // sparse on the host, 20 MiB in the archive
    for (const memory of ['16MiB', '24MiB']) {  // more than RAM; less than RAM but no room left
      try {
        await ctx.host.spawn(prog, { args: ['ls', '/'], memory, files: { dir: big } });
        assert.unreachable('spawn should reject');
      } catch (err) {
        assert.instance(err, PvmError);
        assert.is((err as PvmError).code, 'ENOMEM', String(err));
      }
    }
    const ok = await outputOf(await ctx.host.spawn(prog, { args: ['ls', '/'], memory: '64MiB', files: { dir: big } }));
    assert.ok(ok.text.includes('ls: huge\n'), ok.text);
  } finally {
    rmSync(big, { recursive: true, force: true });
  }
});

const busybox = fetchBusybox();
const noBusybox = () => (noMusl ? false : typeof busybox === 'string' ? false : busybox.skip);
const bb = typeof busybox === 'string' ? busybox : '';
const bbTest = (title: string, fn: () => Promise<void>) => linuxTest(title, fn, noBusybox);

bbTest('busybox cat, sort, grep and ls over the pVM\'s files', async () => {
  const cat = await run(['cat', '/words.txt'], bb);
  assert.is(cat.text, words);
  const sort = await run(['sort', '/words.txt'], bb);
  assert.is(sort.text, [...words.trim().split('\n')].sort().join('\n') + '\n');
  assert.equal(sort.status, { kind: 'exit', code: 0 });
  const grep = await run(['grep', 'apple', '/words.txt'], bb);
  assert.is(grep.text, 'apple\napple pie\n');
  const none = await run(['grep', 'kiwi', '/words.txt'], bb);
  assert.equal(none.status, { kind: 'exit', code: 1 });
  const ls = await run(['ls', '/', '/sub'], bb);
  assert.is(ls.text, '/:\nsub\nwords.txt\n\n/sub:\ndata.bin\ndeeper\n');
  const missing = await run(['cat', '/nope'], bb);
  assert.ok(missing.text.includes('No such file or directory'), missing.text);
  assert.equal(missing.status, { kind: 'exit', code: 1 });
});

bbTest('busybox sha256sum of a file from the pVM is node:crypto\'s', async () => {
  const { text, status } = await run(['sha256sum', '/sub/data.bin'], bb);
  assert.is(text, `${createHash('sha256').update(data).digest('hex')}  /sub/data.bin\n`);
  assert.equal(status, { kind: 'exit', code: 0 });
});

bbTest('busybox sh: redirections and pipelines over files, across fork and exec', async () => {
  const before = snapshotDir(base);
  const script = 'cd /sub && echo one > n.txt && echo two >> n.txt && sort -r n.txt && cat n.txt | wc -l && ' +
    'sort < /words.txt | head -1 && while read w; do echo "[$w]"; done < n.txt && pwd';
  const { text, status } = await run(['sh', '-c', script], bb);
  assert.is(text, 'two\none\n2\napple\n[one]\n[two]\n/sub\n');
  assert.equal(status, { kind: 'exit', code: 0 });
  assert.equal(snapshotDir(base), before);
});

bbTest("busybox sh: what the last forked command prints is never lost, though the shell's end may reach the host first (30 runs)", async () => {
  for (let i = 0; i < 30; i++) {
    const { text, status } = await run(['sh', '-c', 'head -1 /words.txt; head -1 /words.txt'], bb);
    assert.is(text, 'pear\npear\n', `run ${i}`);
    assert.equal(status, { kind: 'exit', code: 0 });
  }
});

bbTest("busybox sh: a child process's writes stay its own (rm and mkdir run as forked pVMs)", async () => {
  const { text, status } = await run(['sh', '-c', 'rm /words.txt; mkdir /d; head -1 /words.txt; ls -d /d'], bb);
  assert.is(text, 'pear\nls: /d: No such file or directory\n');
  assert.equal(status, { kind: 'exit', code: 1 });
});

suite.run();
