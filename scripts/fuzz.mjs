#!/usr/bin/env node
// npm run fuzz [-- --seconds N] [--only elf,control,hypercall] [-- libFuzzer flags...]
//
// Builds the libFuzzer harnesses in fuzz/ with clang into build/fuzz, then runs each one
// for a bounded time, one after the other and each in a single process (the machine is
// shared: no -jobs/-workers). Seeds come from fuzz/corpus/<name>/ and the saved crashes
// in fuzz/regressions/<name>/; what the fuzzer finds new goes to build/fuzz-work/<name>/
// (kept between runs, so runs build on each other; never written into the repo).
// Prints a table per harness. A crash (or leak, timeout, out-of-memory) is copied to
// fuzz/regressions/<name>/ and the exit status is 1. See fuzz/README.md.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HARNESSES = ['elf', 'control', 'hypercall'];
const buildDir = join(root, 'build/fuzz');
const workDir = join(root, 'build/fuzz-work');

function usage(message) {
  if (message) console.error(`fuzz: ${message}`);
  console.error('usage: npm run fuzz -- [--seconds N] [--only NAME[,NAME]] [-- libFuzzer flags]');
  console.error(`harnesses: ${HARNESSES.join(', ')}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { seconds: 60, only: HARNESSES, extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--') {
      opts.extra = argv.slice(i + 1);
      break;
    } else if (a === '--seconds' || a.startsWith('--seconds=')) {
      opts.seconds = Number(value());
      if (!Number.isInteger(opts.seconds) || opts.seconds < 1) usage('--seconds takes a whole number >= 1');
    } else if (a === '--only' || a.startsWith('--only=')) {
      opts.only = value().split(',').filter(Boolean);
      for (const name of opts.only) if (!HARNESSES.includes(name)) usage(`no harness "${name}"`);
    } else if (a === '-h' || a === '--help') {
      usage();
    } else {
      usage(`unknown argument ${a}`);
    }
  }
  return opts;
}

// Runs a build step with its output shown; exits on failure.
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    console.error(`fuzz: cannot run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function build() {
  if (spawnSync('clang++', ['--version']).status !== 0) {
    console.error('fuzz: needs clang++ with libFuzzer (Debian: apt-get install clang)');
    process.exit(1);
  }
  // Only configure once: a reconfigure would rebuild everything for nothing.
  if (!existsSync(join(buildDir, 'build.ninja'))) {
    run('cmake', ['-S', 'fuzz', '-B', buildDir, '-G', 'Ninja', '-DCMAKE_CXX_COMPILER=clang++']);
  }
  run('cmake', ['--build', buildDir]);
}

const files = (dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')) : []);

// One harness for `seconds`; resolves to its row of the summary.
function fuzz(name, seconds, extra) {
  const corpus = join(workDir, name, 'corpus');
  const artifacts = join(workDir, name, 'artifacts');
  mkdirSync(corpus, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  const seeds = [join(root, 'fuzz/corpus', name), join(root, 'fuzz/regressions', name)].filter(existsSync);
  const args = [
    `-max_total_time=${seconds}`,
    '-print_final_stats=1',
    '-timeout=10',      // an input slower than this is a hang: reported as a crash
    '-rss_limit_mb=2048',
    `-artifact_prefix=${artifacts}/`,
    ...extra,
    corpus, // the first directory gets the new inputs; the seeds are only read
    ...seeds,
  ];
  const binary = join(buildDir, `fuzz-${name}`);
  console.log(`\n== fuzz-${name}: ${seconds} s, new corpus in ${relative(root, corpus)}`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(binary, args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
    let log = '';
    let lastStatus = 0;
    let inDictionary = false;
    let partial = '';
    child.stderr.on('data', (chunk) => {
      const text = partial + chunk.toString();
      const lines = text.split('\n');
      partial = lines.pop();  // an unfinished line waits for the rest
      log += text.slice(0, text.length - partial.length);
      if (log.length > 1 << 20) log = log.slice(-(1 << 19));  // the stats come last
      // libFuzzer's progress lines are many: show one every 10 s, and everything else.
      for (const line of lines) {
        if (!line) continue;
        // The "recommended dictionary" at the end is long and of no use here.
        if (line.startsWith('###### Recommended dictionary')) inDictionary = true;
        if (inDictionary) {
          if (line.startsWith('###### End of recommended dictionary')) inDictionary = false;
          continue;
        }
        const progress = /^#\d+\s+(NEW|REDUCE|pulse|RELOAD)\b/.test(line);
        if (progress && Date.now() - lastStatus < 10_000) continue;
        if (progress) lastStatus = Date.now();
        process.stderr.write(line + '\n');
      }
    });
    child.on('close', (code, signal) => {
      log += partial;
      if (partial) process.stderr.write(partial + '\n');
      const stat = (key) => {
        const m = new RegExp(`stat::${key}:\\s+(\\d+)`).exec(log);
        return m ? Number(m[1]) : undefined;
      };
      // Every crash, leak, timeout or out-of-memory input libFuzzer saved ("Test unit
      // written to <path>"; not the slow-unit- ones, which are only slow).
      const found = [...log.matchAll(/Test unit written to (\S+)/g)].map((m) => m[1]);
      const kept = [];
      for (const path of found.filter((p) => /\/(crash|leak|timeout|oom)-[^/]*$/.test(p) && existsSync(p))) {
        const dir = join(root, 'fuzz/regressions', name);
        mkdirSync(dir, { recursive: true });
        const file = path.slice(path.lastIndexOf('/') + 1);
        copyFileSync(path, join(dir, file));
        kept.push(join('fuzz/regressions', name, file));
      }
      resolve({
        name,
        seconds: Math.round((Date.now() - started) / 1000),
        execs: stat('number_of_executed_units'),
        perSecond: stat('average_exec_per_sec'),
        newUnits: stat('new_units_added'),
        // The corpus libFuzzer ended with (seeds included), from its last status line.
        corpus: Number([...log.matchAll(/ corp: (\d+)\//g)].pop()?.[1] ?? files(corpus).length),
        crashes: kept,
        status: signal ?? code,
      });
    });
    child.on('error', (e) => {
      console.error(`fuzz: cannot run ${binary}: ${e.message}`);
      process.exit(1);
    });
  });
}

function table(rows) {
  const head = ['harness', 'seconds', 'executions', 'exec/s', 'corpus', 'new', 'crashes'];
  const body = rows.map((r) => [
    r.name, r.seconds, r.execs ?? '?', r.perSecond ?? '?', r.corpus, r.newUnits ?? '?', r.crashes.length,
  ].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log('\n' + line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

const opts = parseArgs(process.argv.slice(2));
// Ctrl-C reaches the fuzzer too (same process group): it stops and prints its stats, and
// this goes on to the summary instead of dying first.
process.on('SIGINT', () => {});
build();
const rows = [];
for (const name of opts.only) rows.push(await fuzz(name, opts.seconds, opts.extra));
table(rows);

let failed = false;
for (const r of rows) {
  if (r.crashes.length) {
    failed = true;
    console.log(`\nfuzz-${r.name} found ${r.crashes.length} crashing input(s), copied to fuzz/regressions/${r.name}/:`);
    for (const c of r.crashes) console.log(`  ${c}    (reproduce: build/fuzz/fuzz-${r.name} ${c})`);
    console.log('Fix the bug, rename the input to say what it was, and keep it: the replay test runs it.');
  } else if (r.status !== 0) {
    failed = true;
    console.log(`\nfuzz-${r.name} stopped with status ${r.status} and no crashing input (see its output above)`);
  }
}
process.exit(failed ? 1 : 0);
