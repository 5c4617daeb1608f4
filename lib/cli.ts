/**
 * The `pvm` command line: `pvm run`, `pvm ps`, `pvm cc`, `pvm bench`, `pvm build`.
 * @internal
 * @module
 */
import { spawn } from 'node:child_process';
import { finished } from 'node:stream/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendChoice } from './backends.js';
import { Host } from './host.js';
import { PvmError } from './errors.js';
import { describeExit } from './status.js';
import { packageRoot } from './paths.js';
import { formatHosts, listHosts } from './ps.js';
import { guestBuildArgs, loadGuestToolchain } from './toolchain.js';
import { buildCommand } from './build.js';

const USAGE = `usage: pvm <command> [options]

commands:
  run [--memory <size>] [--backend <name>] [--env NAME=value]... [--stdin] <image> [args...]
                                            boot a pVM, print its console, exit with its code
  ps [--json]                               the pVM family trees of the running hosts
  cc <file.c...> -o <out.pvm> [cc flags]     build a guest image from C with the pvm runtime
  bench [--only <name>] [--runs N] [--json] [--out <file.json>]
                                            run the benchmarks
  build                                     build the native parts from source (no prebuild)

  pvm <command> --help                       help for one command`;

const RUN_USAGE = `usage: pvm run [--memory <size>] [--backend <name>] [--env NAME=value]... [--stdin] <image> [args...]

Boots <image> (a static ELF64 guest built with the pvm runtime) in a pVM, copies its
console to stdout and exits with the guest's exit code. A guest fault is reported on
stderr and exits with 139; a pVM killed by a signal exits with 128 + the signal number.

options:
  -m, --memory <size>   guest RAM, e.g. 32MiB, 1GiB (default 64MiB)
  -b, --backend <name>  auto, kvm, process or xen (default: $PVM_BACKEND, else auto:
                        the first that works, in that order)
  -e, --env NAME=value  a variable of a Linux program's environment (repeat it: the
                        environment is exactly these; default PATH, HOME and TERM)
  -i, --stdin           this command's standard input is the program's (fd 0): from a
                        terminal as it is typed; from a pipe or file read to its end
                        first (at most 64 MiB), so the commands a shell forks see it
                        too (default: fd 0 is at end of file)`;

const CC_USAGE = `usage: pvm cc <file.c...> -o <out.pvm> [extra cc flags]

Compiles and links C sources against the pvm guest runtime (crt0, hypercalls, a small
libc: printf, malloc, string functions; see hypercalls/include) into a pVM image, with
the flags pvm_add_guest() uses. Needs gcc (PVM_CC names another compiler); the runtime,
headers and linker script come with the package.`;

const PS_USAGE = `usage: pvm ps [--json]

Lists the pVMs of every host (a Node process using pvm) on this machine that this user
can see, as family trees: pVM id, its monitor's pid, resident memory and age. Read from
the hosts' registries through /proc, without disturbing them.

options:
  --json   one JSON array of hosts, each with its trees`;

const BENCH_USAGE = `usage: pvm bench [--only <name>] [--runs N] [--json] [--out <file.json>]

Runs pvm's benchmarks (spawn, guest loop, fork, ipc, exec, server), each figure next to
a baseline measured in the same run, with progress on stderr.

options:
  --only <name>       only benchmarks whose name starts with <name> (e.g. fork, ipc.pipe)
  --runs N            samples per figure (default: each benchmark's own)
  --json              print one JSON array instead of a table
  --out <file.json>   also write the results there, and a chart next to it (<file>.svg)`;

/** Runs the CLI; resolves with the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest);
      case 'cc':
        return await ccCommand(rest);
      case 'ps':
        return psCommand(rest);
      case 'bench':
        return await benchCommand(rest);
      case 'build':
        return await buildCommand(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        console.error(`pvm: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof PvmError) {
      console.error(`pvm: ${err.message} (${err.code})`);
      return 1;
    }
    throw err;
  }
}

async function runCommand(argv: string[]): Promise<number> {
  let memory: string | undefined;
  let backend: string | undefined;
  let env: Record<string, string> | undefined;
  let stdin = false;
  const addEnv = (v: string | undefined): boolean => {
    const eq = v === undefined ? -1 : v.indexOf('=');
    if (v === undefined || eq <= 0) return false;
    (env ??= {})[v.slice(0, eq)] = v.slice(eq + 1);
    return true;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      console.log(RUN_USAGE);
      return 0;
    } else if (a === '-m' || a === '--memory') {
      memory = argv[++i];
      if (memory === undefined) return usageError('--memory needs a value', RUN_USAGE);
    } else if (a.startsWith('--memory=')) {
      memory = a.slice('--memory='.length);
    } else if (a === '-b' || a === '--backend') {
      backend = argv[++i];
      if (backend === undefined) return usageError('--backend needs a value', RUN_USAGE);
    } else if (a.startsWith('--backend=')) {
      backend = a.slice('--backend='.length);
    } else if (a === '-e' || a === '--env') {
      if (!addEnv(argv[++i])) return usageError('--env needs NAME=value', RUN_USAGE);
    } else if (a.startsWith('--env=')) {
      if (!addEnv(a.slice('--env='.length))) return usageError('--env needs NAME=value', RUN_USAGE);
    } else if (a === '-i' || a === '--stdin') {
      stdin = true;
    } else if (a === '--') {
      i++;
      break;
    } else if (a.startsWith('-')) {
      return usageError(`unknown option ${a}`, RUN_USAGE);
    } else {
      break;
    }
  }
  const image = argv[i];
  if (image === undefined) return usageError('missing <image>', RUN_USAGE);
  // Host.open checks the name: EINVAL for one it does not know.
  const host = await Host.open(backend === undefined ? {} : { backend: backend as BackendChoice });
  try {
    // A terminal streams; anything else is read whole first: a Linux fork child gets a
    // copy of the input its parent had at the fork (README "Running Linux programs").
    const input = !stdin ? undefined : process.stdin.isTTY ? ('pipe' as const) : await readAll(process.stdin);
    const pvm = await host.spawn(image, {
      args: argv.slice(i + 1),
      ...(memory ? { memory } : {}),
      ...(env ? { env } : {}),
      ...(input !== undefined ? { stdin: input } : {}),
    });
    pvm.console.pipe(process.stdout, { end: false });
    if (pvm.stdin) process.stdin.pipe(pvm.stdin);
    const status = await pvm.exited;
    if (pvm.stdin) {
      process.stdin.unpipe(pvm.stdin);
      process.stdin.destroy(); // nothing more to read: let the command exit
    }
    await finished(pvm.console); // every byte written out before we exit
    switch (status.kind) {
      case 'exit':
        return status.code;
      case 'fault':
        console.error(`pvm: ${image}: ${describeExit(status)}`);
        return 139;
      case 'killed':
        console.error(`pvm: ${image}: ${describeExit(status)}`);
        return 128 + (await import('node:os')).constants.signals[status.signal];
    }
  } finally {
    await host.close();
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function ccCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(CC_USAGE);
    return 0;
  }
  const o = argv.indexOf('-o');
  const out = o >= 0 ? argv[o + 1] : undefined;
  if (!out) return usageError('missing -o <out.pvm>', CC_USAGE);
  const rest = argv.filter((_, k) => k !== o && k !== o + 1);
  const sources = rest.filter((a) => !a.startsWith('-'));
  if (sources.length === 0) return usageError('no source files', CC_USAGE);
  const flags = rest.filter((a) => a.startsWith('-'));
  const tc = loadGuestToolchain();
  const args = guestBuildArgs(tc, sources.map((f) => resolve(f)), flags, resolve(out));
  return await runToEnd(tc.cc, args, {}, `pvm cc needs gcc to build guests: ${tc.cc} not found (install gcc, or set PVM_CC)`);
}

function psCommand(argv: string[]): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(PS_USAGE);
    return 0;
  }
  const unknown = argv.find((a) => a !== '--json');
  if (unknown !== undefined) return usageError(`unknown argument ${unknown}`, PS_USAGE);
  const hosts = listHosts().filter((h) => h.pid !== process.pid);
  console.log(argv.includes('--json') ? JSON.stringify(hosts, null, 2) : formatHosts(hosts));
  return 0;
}

async function benchCommand(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    console.log(BENCH_USAGE);
    return 0;
  }
  const allowed = new Set(['--only', '--runs', '--json', '--out']);
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    const name = a.split('=')[0]!;
    if (!allowed.has(name)) return usageError(`unknown option ${a}`, BENCH_USAGE);
    if (name !== '--json' && !a.includes('=')) {
      if (argv[k + 1] === undefined) return usageError(`${a} needs a value`, BENCH_USAGE);
      k++;
    }
  }
  // --out is where the user asked, from their directory (the bench may run elsewhere).
  const args = argv.map((a, k) => (argv[k - 1] === '--out' ? resolve(a) : a.startsWith('--out=') ? `--out=${resolve(a.slice(6))}` : a));
  // A source checkout runs the TypeScript (tsx, a dev dependency); the package, the compiled bench.
  const source = join(packageRoot, 'bench', 'index.ts');
  if (existsSync(source) && existsSync(join(packageRoot, 'node_modules', 'tsx'))) {
    return await runToEnd(process.execPath, ['--import', 'tsx', source, ...args], { cwd: packageRoot });
  }
  const compiled = join(packageRoot, 'dist', 'bench', 'index.js');
  if (!existsSync(compiled)) throw new PvmError('ENOENT', `the benchmarks are missing: no ${compiled} (npm run build)`);
  return await runToEnd(process.execPath, [compiled, ...args], {});
}

/** Runs a program with this terminal; resolves with its exit code (`notFound`: the message if it is missing). */
function runToEnd(program: string, args: string[], options: { cwd?: string }, notFound?: string): Promise<number> {
  return new Promise<number>((done, fail) => {
    const child = spawn(program, args, { ...options, stdio: 'inherit' });
    child.on('error', (err: NodeJS.ErrnoException) =>
      fail(notFound && err.code === 'ENOENT' ? new PvmError('ENOENT', notFound) : err),
    );
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? 1 : 0)));
  });
}

function usageError(message: string, usage: string): number {
  console.error(`pvm: ${message}\n\n${usage}`);
  return 2;
}
