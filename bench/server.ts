// server.*: the fork-per-request server of examples/fork-server.ts (every request
// answered by a pVM forked from a warm template that built its tables once) against
// the same service done two common ways in Node, each behind the same kind of
// node:http server in this process:
//   - a worker_threads pool (one worker per CPU; each builds the tables once, then
//     answers requests: fast, but requests share the workers' memory and fate);
//   - child_process per request (child_process.fork of a Node process that builds
//     the tables, answers the one request and exits: isolated like a pVM per request,
//     but nothing to inherit the warm tables from, so it starts cold every time).
// The service (bench/server-worker.mjs) is the guest's, ported to JavaScript; before
// measuring, every server answers the same 12 requests and the answers must be
// identical (status and body).
//
// Load comes from a second process, bench/server-load.mjs: keep-alive connections on
// loopback, a fixed mix of /pi, /isprime, /primes and POST /factor requests.
//   latency      1 client, back to back, after a warm-up: median and p99, in µs; at most
//                LATENCY_MS or LATENCY_REQUESTS, whichever comes first;
//   throughput   THROUGHPUT_CLIENTS clients for THROUGHPUT_MS: requests per second.
//
//   server.forkPerRequest.latency[.p99]           pVM per request  vs worker_threads pool
//   server.forkPerRequest.throughput              (req/s)          vs worker_threads pool
//   server.forkPerRequest.vsChildProcess.latency[.p99], .throughput
//                                                 pVM per request  vs child_process per request
//   server.forkPerRequest.spare.latency           the template with a warm spare (forkSpares)
//                                                 vs without
//   server.resetPerRequest.latency[.p99], .throughput
//                                                 a pool of copies reset after each request
//                                                 (fork-server resetPerRequest, one copy per
//                                                 load client) vs worker_threads pool
import { execFile, fork as forkProcess, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { Host } from '../lib/index.js';
import { startForkServer } from '../examples/fork-server.js';
import { benchScript, round, wanted, type Only, type Result } from './lib.js';

const LATENCY_MS = 3000;
const LATENCY_REQUESTS = 1000;
const THROUGHPUT_MS = 3000;
const THROUGHPUT_CLIENTS = 8;
const CHECKED_REQUESTS = 12;

const workerScript = benchScript('server-worker.mjs');
const loadScript = benchScript('server-load.mjs');
const execFileAsync = promisify(execFile);

/** What server-load.mjs prints. */
interface Load {
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  throughput: number;
  latencyUs: { median: number; p99: number; min: number; max: number; mean: number };
}

interface Running {
  url: string;
  close(): Promise<void>;
}

async function loadFrom(url: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [loadScript, '--url', url, ...args], {
    timeout: 120_000,
    maxBuffer: 1 << 20,
  });
  return stdout.trim().split('\n').pop()!;
}

async function measure(url: string, what: string, args: string[]): Promise<Load> {
  const load = JSON.parse(await loadFrom(url, args)) as Load;
  if (load.errors > 0 || load.requests === 0) {
    throw new Error(`server bench, ${what}: ${load.errors} errors in ${load.requests} requests: ${load.firstError}`);
  }
  return load;
}

async function digest(url: string): Promise<string> {
  return (JSON.parse(await loadFrom(url, ['--digest', String(CHECKED_REQUESTS)])) as { digest: string }).digest;
}

// ---- the two baselines: the same service, the same HTTP front ---------------------------

type Reply = { status: number; type: string; body: string };

function httpFront(answer: (method: string, url: string, body: string) => Promise<Reply>): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      answer(req.method ?? 'GET', req.url ?? '/', Buffer.concat(chunks).toString()).then(
        (r) => {
          res.writeHead(r.status, { 'content-type': r.type });
          res.end(r.body);
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: err.message }));
        },
      );
    });
  });
}

async function listen(server: Server, close: () => Promise<void>): Promise<Running> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await close();
    },
  };
}

/** (a) A pool of worker threads, each with the tables built once; a queue in front. */
async function startWorkerPool(size: number): Promise<Running> {
  const workers = await Promise.all(
    Array.from({ length: size }, async () => {
      // execArgv: [] — the worker is plain JavaScript; it needs no TypeScript loader.
      const w = new Worker(workerScript, { execArgv: [], workerData: {} });
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      });
      return w;
    }),
  );
  const idle = [...workers];
  const queue: Array<(w: Worker) => void> = [];
  const pending = new Map<number, (r: Reply) => void>();
  let nextId = 1;
  for (const w of workers) {
    w.on('message', (m: Reply & { id: number }) => {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
      const waiter = queue.shift();
      if (waiter) waiter(w);
      else idle.push(w);
    });
  }
  const server = httpFront(async (method, url, body) => {
    const w = idle.pop() ?? (await new Promise<Worker>((resolve) => queue.push(resolve)));
    const id = nextId++;
    return new Promise<Reply>((resolve) => {
      pending.set(id, resolve);
      w.postMessage({ id, method, url, body });
    });
  });
  return listen(server, async () => {
    await Promise.all(workers.map((w) => w.terminate()));
  });
}

/** (b) A Node process per request: it builds the tables, answers, exits. */
async function startProcessPerRequest(): Promise<Running> {
  const live = new Set<ChildProcess>();
  const server = httpFront(
    (method, url, body) =>
      new Promise<Reply>((resolve, reject) => {
        // execArgv: [] so the child does not inherit `--import tsx` from the bench.
        const child = forkProcess(workerScript, ['--once'], { execArgv: [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        live.add(child);
        child.once('exit', () => live.delete(child));
        child.once('message', (r: Reply) => resolve(r));
        child.once('error', reject);
        child.once('exit', (code, signal) => reject(new Error(`request process ended (${code ?? signal}) without an answer`)));
        child.send({ method, url, body });
      }),
  );
  return listen(server, async () => {
    await Promise.all(
      [...live].map(
        (c) =>
          new Promise<void>((resolve) => {
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
  });
}

// ---- the runs ------------------------------------------------------------------------------

interface Figures {
  latency?: Load;
  throughput?: Load;
}

async function run(
  what: string,
  start: () => Promise<Running>,
  phases: { latency: boolean; throughput: boolean; warmup: number },
  expectDigest?: string,
): Promise<Figures & { digest: string }> {
  const server = await start();
  try {
    const d = await digest(server.url);
    if (expectDigest && d !== expectDigest) {
      throw new Error(`server bench: the ${what} server answers differently from the pVM server`);
    }
    const figures: Figures & { digest: string } = { digest: d };
    const warmup = String(phases.warmup);
    if (phases.latency) {
      figures.latency = await measure(server.url, `${what} latency`, [
        '--concurrency', '1', '--duration-ms', String(LATENCY_MS), '--max-requests', String(LATENCY_REQUESTS), '--warmup', warmup,
      ]);
    }
    if (phases.throughput) {
      figures.throughput = await measure(server.url, `${what} throughput`, [
        '--concurrency', String(THROUGHPUT_CLIENTS), '--duration-ms', String(THROUGHPUT_MS), '--warmup', warmup,
      ]);
    }
    return figures;
  } finally {
    await server.close();
  }
}

export async function benchServer(host: Host, only?: Only): Promise<Result[]> {
  const name = {
    lat: 'server.forkPerRequest.latency',
    p99: 'server.forkPerRequest.latency.p99',
    tput: 'server.forkPerRequest.throughput',
    cpLat: 'server.forkPerRequest.vsChildProcess.latency',
    cpP99: 'server.forkPerRequest.vsChildProcess.latency.p99',
    cpTput: 'server.forkPerRequest.vsChildProcess.throughput',
    spare: 'server.forkPerRequest.spare.latency',
    rLat: 'server.resetPerRequest.latency',
    rP99: 'server.resetPerRequest.latency.p99',
    rTput: 'server.resetPerRequest.throughput',
  };
  const want = (...names: string[]) => names.some((n) => wanted(n, only));
  const pool = availableParallelism();

  const forkRows = want(name.lat, name.p99, name.tput, name.cpLat, name.cpP99, name.cpTput, name.spare);
  const pvm = await run('pVM', () => startForkServer({ host }), {
    latency: want(name.lat, name.p99, name.cpLat, name.cpP99, name.spare),
    throughput: want(name.tput, name.cpTput),
    warmup: forkRows ? 20 : 0,
  });
  const reset: Figures = want(name.rLat, name.rP99, name.rTput)
    ? await run(
        'pVM reset per request',
        () => startForkServer({ host, resetPerRequest: true, poolSize: THROUGHPUT_CLIENTS }),
        { latency: want(name.rLat, name.rP99), throughput: want(name.rTput), warmup: 20 },
        pvm.digest,
      )
    : {};
  const workers: Figures = want(name.lat, name.p99, name.tput, name.rLat, name.rP99, name.rTput)
    ? await run(
        'worker_threads',
        () => startWorkerPool(pool),
        { latency: want(name.lat, name.p99, name.rLat, name.rP99), throughput: want(name.tput, name.rTput), warmup: 20 },
        pvm.digest,
      )
    : {};
  const processes: Figures = want(name.cpLat, name.cpP99, name.cpTput)
    ? await run('child_process', startProcessPerRequest, { latency: want(name.cpLat, name.cpP99), throughput: want(name.cpTput), warmup: 2 }, pvm.digest)
    : {};
  const spare: Figures = want(name.spare)
    ? await run('pVM with a spare', () => startForkServer({ host, forkSpares: true }), { latency: true, throughput: false, warmup: 20 }, pvm.digest)
    : {};

  const results: Result[] = [];
  const add = (n: string, unit: string, value: number | undefined, baseline: string, base: number | undefined) => {
    if (!wanted(n, only) || value === undefined) return;
    results.push({ name: n, unit, value: round(value), ...(base !== undefined ? { baseline: { name: baseline, value: round(base) } } : {}) });
  };
  const poolName = `worker_threads pool (${pool})`;
  add(name.lat, 'us', pvm.latency?.latencyUs.median, poolName, workers.latency?.latencyUs.median);
  add(name.p99, 'us', pvm.latency?.latencyUs.p99, poolName, workers.latency?.latencyUs.p99);
  add(name.tput, 'req/s', pvm.throughput?.throughput, poolName, workers.throughput?.throughput);
  add(name.cpLat, 'us', pvm.latency?.latencyUs.median, 'child_process per request', processes.latency?.latencyUs.median);
  add(name.cpP99, 'us', pvm.latency?.latencyUs.p99, 'child_process per request', processes.latency?.latencyUs.p99);
  add(name.cpTput, 'req/s', pvm.throughput?.throughput, 'child_process per request', processes.throughput?.throughput);
  add(name.spare, 'us', spare.latency?.latencyUs.median, 'server.forkPerRequest.latency (no spare)', pvm.latency?.latencyUs.median);
  add(name.rLat, 'us', reset.latency?.latencyUs.median, poolName, workers.latency?.latencyUs.median);
  add(name.rP99, 'us', reset.latency?.latencyUs.p99, poolName, workers.latency?.latencyUs.p99);
  add(name.rTput, 'req/s', reset.throughput?.throughput, poolName, workers.throughput?.throughput);
  return results;
}
