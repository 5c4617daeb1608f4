// Fork-per-request HTTP server: every request is answered by its own pVM, forked from a
// warm template that did its expensive initialization once.
//
//   npm run example:server                      serve on http://127.0.0.1:8080 until Ctrl-C
//   npm run example:server -- --port 0          any free port
//   npm run example:server -- --requests 50     start, check 50 requests against itself, stop
//   npm run example:server -- --spares          fork through warm spares (Host.open forkSpares)
//   npm run example:server -- --reset           a pool of copies, each reset after its request
//
// At start the server spawns the template, examples/guests/prime_service.c: it sieves
// the primes up to 10^7 and builds a table of prime counts (~40 ms of work, ~1 MiB of
// tables), then sleeps. For each request the handler forks it (`template.fork()`): the
// copy resumes inside the template with the tables already built, takes the request
// from its channel, answers and exits. A copy shares every page with the template until
// it writes one, so a request costs a fork (~1-2 ms here), not a start-up, and each
// request is isolated as in a process-per-request server: a request that crashes or
// hangs its pVM (GET /crash, GET /hang) ends only that pVM.
//
// With resetPerRequest (--reset) the copies are not thrown away: a pool of them
// (examples/reset-pool.ts) serves the requests, and each copy rewinds itself to its fork
// point after answering (pvm_reset(); README "Reset"), which copies back only the pages
// the request wrote: the next request finds the copy exactly as a fresh fork would be,
// without the fork. A copy that crashes or hangs is replaced by a fresh fork.
//
// Then: curl 'http://127.0.0.1:8080/pi?n=1000000'
//       curl -d 600851475143 http://127.0.0.1:8080/factor
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Host, MAX_MESSAGE, PvmError, builtinGuest, describeExit, type Channel, type Pvm } from '../lib/index.js';
import { Gate, HttpError, checkMaxInFlight, closeHttp, fetchText, httpServer, listen, readBody, sendJson, templateReady } from './http-kit.js';
import { ResetPool } from './reset-pool.js';

export { fetchText };

/** Options of {@link startForkServer}. */
export interface ForkServerOptions {
  /** TCP port (default 0: any free port). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  hostname?: string;
  /** Run the pVMs on this Host (it stays open on close()); default: a Host of its own. */
  host?: Host;
  /** Sieve limit of the template (default 10,000,000). */
  limit?: number;
  /** Guest RAM of the template (and so of each copy); default 32 MiB. */
  memory?: string;
  /** Fork through a warm spare (see SpawnOptions.forkSpares); default false. */
  forkSpares?: boolean;
  /** Requests served at once; more wait their turn (default 32; a pVM has 128 child slots). */
  maxInFlight?: number;
  /** A request's pVM that has not answered after this long is killed: 504 (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Serve from a pool of copies, each reset to its fork point after its request, instead
   * of a fork per request (default false). Where reset cannot work (ENOSYS) each copy
   * exits after its request and the pool forks a new one: fork per request again.
   */
  resetPerRequest?: boolean;
  /** resetPerRequest: copies in the pool (default maxInFlight, at most 8). */
  poolSize?: number;
}

/** What the server has done so far. */
export interface ForkServerStats {
  /** Requests answered (any status). */
  requests: number;
  /** pVMs forked for requests (resetPerRequest: for the pool, replacements included). */
  forks: number;
  /** resetPerRequest: requests after which the copy reset itself and went back to the pool. */
  resets: number;
  /** Requests whose pVM crashed (502) or was killed for taking too long (504). */
  failed: number;
}

/** A running fork-per-request server. */
export interface ForkServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** The warm template every request's pVM is forked from. */
  readonly template: Pvm;
  /** How long the template's initialization took inside the guest, in ms. */
  readonly initMs: number;
  readonly stats: ForkServerStats;
  /** Stops listening, ends the template and every request's pVM, closes its own Host. */
  close(): Promise<void>;
}

const MAX_BODY = 16 * 1024;
const READY = /prime_service: ready limit=(\d+) primes=(\d+) init_ms=(\d+)/;

/** Starts the server; resolves once the template is initialized and the port listens. */
export async function startForkServer(options: ForkServerOptions = {}): Promise<ForkServer> {
  const maxInFlight = checkMaxInFlight(options.maxInFlight ?? 32);
  const timeoutMs = options.timeoutMs ?? 5000;
  const ownHost = !options.host;
  const host = options.host ?? (await Host.open());
  let template: Pvm | undefined;
  try {
    const reset = options.resetPerRequest ?? false;
    template = await host.spawn(builtinGuest('prime_service'), {
      memory: options.memory ?? '32MiB',
      args: [String(options.limit ?? 10_000_000), ...(reset ? ['reset'] : [])],
      forkSpares: options.forkSpares ?? false,
    });
    const ready = await templateReady(template, READY);
    const initMs = Number(ready[3]);
    const poolSize = options.poolSize ?? Math.min(maxInFlight, 8);
    if (reset && (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > maxInFlight)) {
      throw new PvmError('EINVAL', 'poolSize: expected an integer 1..maxInFlight');
    }
    const pool = reset ? new ResetPool(template, poolSize) : undefined;
    await pool?.fill();
    const server = serve(template, maxInFlight, timeoutMs, pool);
    const url = await listen(server.http, options.port ?? 0, options.hostname ?? '127.0.0.1');
    const t = template;
    let closing: Promise<void> | undefined;
    return {
      url,
      template: t,
      initMs,
      stats: server.stats,
      close: () =>
        (closing ??= (async () => {
          await closeHttp(server.http);
          // SIGKILL ends the template's monitor and with it every copy forked from it.
          pool?.close();
          t.kill('SIGKILL');
          await Promise.all([t.exited, ...[...server.live, ...(pool?.live ?? [])].map((p) => p.exited)]);
          if (ownHost) await host.close();
        })()),
    };
  } catch (err) {
    template?.kill('SIGKILL');
    await template?.exited;
    if (ownHost) await host.close();
    throw err;
  }
}



function serve(template: Pvm, maxInFlight: number, timeoutMs: number, pool?: ResetPool) {
  const stats: ForkServerStats = { requests: 0, forks: 0, resets: 0, failed: 0 };
  const live = new Set<Pvm>();
  const gate = new Gate(maxInFlight);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY);
    // The request as the guest reads it: "<METHOD> <path>\n<body>", one message.
    const message = Buffer.concat([Buffer.from(`${req.method} ${req.url}\n`), body]);
    if (message.length > MAX_MESSAGE) throw new HttpError(413, 'request too large');
    await gate.acquire();
    try {
      const t0 = process.hrtime.bigint();
      // The copy resumes where the template waits, with the tables already built: a fresh
      // fork, or a pooled copy that has been reset to that same point.
      let child: Pvm;
      let channel: Channel;
      let timing = '';
      if (pool) {
        ({ child, channel } = await pool.take());
        stats.forks = pool.forks;
        stats.resets = pool.resets;
      } else {
        const fork = await template.fork();
        ({ child, channel } = fork);
        timing = `fork;dur=${(fork.childReadyUs / 1000).toFixed(3)}, `;
        stats.forks++;
        live.add(child);
        void child.exited.then(() => live.delete(child));
        child.console.resume();
      }
      const discard = () => (pool ? pool.discard({ child, channel }) : child.kill('SIGKILL'));
      try {
        await channel.send(message);
        let timer: NodeJS.Timeout | undefined;
        const reply = await Promise.race([
          channel.recv(),
          new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
        ]).finally(() => clearTimeout(timer));
        const headers = {
          'x-pvm-id': String(child.id),
          'server-timing': `${timing}total;dur=${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3)}`,
        };
        if (reply === 'timeout') {
          discard();
          stats.failed++;
          return sendJson(res, 504, { error: `request pVM ${child.id} did not answer in ${timeoutMs} ms: killed` }, headers);
        }
        if (reply === null) {
          discard();
          const status = await child.exited;
          stats.failed++;
          return sendJson(res, 502, { error: `request pVM ${child.id} ${describeExit(status)}` }, headers);
        }
        // The reply: "<status> <content-type>\n<body>".
        const nl = reply.indexOf(0x0a);
        const [status, type] = reply.subarray(0, nl < 0 ? reply.length : nl).toString('latin1').split(' ');
        const code = Number(status);
        if (nl < 0 || !Number.isInteger(code) || code < 100 || code > 599 || !type) {
          stats.failed++;
          return sendJson(res, 502, { error: `request pVM ${child.id} sent a malformed reply` }, headers);
        }
        res.writeHead(code, { 'content-type': type, ...headers });
        res.end(reply.subarray(nl + 1));
      } finally {
        if (!pool) channel.close(); // the copy has exited by now, or is about to
      }
    } finally {
      gate.release();
    }
  }

  const http = httpServer(handle, () => stats.requests++);
  return { http, stats, live };
}

// ---- running the file: serve, or check itself ------------------------------------------


// Known values to check the answers against.
const PI = [[10, 4], [1000, 168], [100_000, 9592], [1_000_000, 78498], [10_000_000, 664579]] as const;

/** `count` requests of every kind, 4 at a time, each answer checked; throws on a wrong one. */
export async function selfTest(url: string, count: number): Promise<{ medianMs: number; pvms: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const times: number[] = [];
  const pvms = new Set<string>();
  let next = 0;
  const one = async (i: number): Promise<void> => {
    const t0 = performance.now();
    let r: Awaited<ReturnType<typeof fetchText>>;
    let check: (value: unknown) => boolean;
    switch (i % 5) {
      case 0: {
        const [n, pi] = PI[Math.floor(i / 5) % PI.length]!;
        r = await fetchText(`${url}/pi?n=${n}`, { agent });
        check = (v) => (v as { pi: number }).pi === pi;
        break;
      }
      case 1: {
        const p = [2, 3, 7919, 104729, 9999991][Math.floor(i / 5) % 5]!;
        r = await fetchText(`${url}/isprime?n=${p}`, { agent });
        check = (v) => (v as { prime: boolean }).prime === true;
        break;
      }
      case 2: {
        const n = 2 + ((i * 7_654_321) % 99_999_999_999);
        r = await fetchText(`${url}/factor`, { method: 'POST', body: String(n), agent });
        check = (v) => (v as { factors: number[] }).factors.reduce((a, b) => a * b, 1) === n;
        break;
      }
      case 3:
        r = await fetchText(`${url}/primes?from=1000&count=5`, { agent });
        check = (v) => JSON.stringify((v as { primes: number[] }).primes) === '[1009,1013,1019,1021,1031]';
        break;
      default:
        r = await fetchText(`${url}/whoami`, { agent });
        check = (v) => (v as { served: number }).served === 1; // a fresh copy of the template every time
    }
    times.push(performance.now() - t0);
    pvms.add(String(r.headers['x-pvm-id']));
    if (r.status !== 200 || !check(JSON.parse(r.text))) throw new Error(`request ${i}: unexpected answer ${r.status} ${r.text}`);
  };
  try {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < count) await one(next++);
      }),
    );
    // One request crashes its pVM: it gets a 502, the template and the others go on.
    const crash = await fetchText(`${url}/crash`, { agent });
    if (crash.status !== 502) throw new Error(`GET /crash: ${crash.status} ${crash.text}`);
    const after = await fetchText(`${url}/pi?n=1000`, { agent });
    if (after.status !== 200 || JSON.parse(after.text).pi !== 168) throw new Error(`after /crash: ${after.text}`);
  } finally {
    agent.destroy();
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[times.length >> 1] ?? NaN, pvms: pvms.size };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      requests: { type: 'string' },
      spares: { type: 'boolean', default: false },
      reset: { type: 'boolean', default: false },
    },
  });
  const requests = values.requests === undefined ? 0 : Number(values.requests);
  if (!Number.isInteger(requests) || requests < 0) throw new Error('--requests: expected a whole number');
  const port = Number(values.port ?? (requests ? 0 : 8080));
  const server = await startForkServer({ port, forkSpares: values.spares, resetPerRequest: values.reset });
  console.log(`fork-per-request server on ${server.url} (template pVM ${server.template.id} built its tables in ${server.initMs} ms)`);
  if (requests) {
    try {
      const { medianMs, pvms } = await selfTest(server.url, requests);
      console.log(`${requests} requests checked, answered by ${pvms} pVMs (${server.stats.resets ? 'reset after each request' : 'one each'}), median ${medianMs.toFixed(2)} ms; GET /crash: 502, the server went on`);
    } finally {
      await server.close();
    }
    console.log(`served ${server.stats.requests} requests with ${server.stats.forks} forks and ${server.stats.resets} resets; closed`);
    return;
  }
  console.log(`try: curl '${server.url}/pi?n=1000000'   curl -d 600851475143 ${server.url}/factor   (Ctrl-C stops)`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  await server.close();
  console.log(`\nserved ${server.stats.requests} requests with ${server.stats.forks} forks and ${server.stats.resets} resets; closed`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof PvmError ? `${err.code}: ${err.message}` : err);
    process.exitCode = 1;
  });
}
