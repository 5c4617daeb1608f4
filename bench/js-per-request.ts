// linux.jsPerRequest.*: examples/js-per-request (QuickJS in a template pVM, forked per
// request; the request on the copy's stdin, the response on its stdout) against the same
// handler (examples/js-per-request/guest/handler.js) run in this process in one node:vm
// context (no isolation between requests), behind the same kind of node:http server,
// measured the same way in the same run. Load from this process: keep-alive connections
// on loopback, GET /fib?n=15.
//   linux.jsPerRequest.latency      1 client, back to back: median ms
//   linux.jsPerRequest.throughput   CLIENTS clients for THROUGHPUT_MS: requests per second
import { readFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import vm from 'node:vm';
import type { Host } from '../lib/index.js';
import { GUEST_DIR, quickJs, startJsServer } from '../examples/js-per-request/server.js';
import { median, round, wanted, type Only, type Result } from './lib.js';

const LATENCY_REQUESTS = 60;
const THROUGHPUT_MS = 3000;
const CLIENTS = 4;
const PATH = '/fib?n=15';

function get(url: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(res.statusCode) : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function measure(base: string): Promise<{ latencyMs: number; throughput: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  try {
    for (let i = 0; i < 5; i++) await get(base + PATH, agent); // warm-up
    const times: number[] = [];
    for (let i = 0; i < LATENCY_REQUESTS; i++) {
      const t0 = performance.now();
      await get(base + PATH, agent);
      times.push(performance.now() - t0);
    }
    let done = 0;
    const end = performance.now() + THROUGHPUT_MS;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < end) {
          await get(base + PATH, agent);
          done++;
        }
      }),
    );
    return { latencyMs: median(times), throughput: (done * 1000) / (performance.now() - t0) };
  } finally {
    agent.destroy();
  }
}

// The baseline: handler.js in one node:vm context, called per request as runtime.js calls it.
async function inProcessServer(): Promise<Server> {
  const context = vm.createContext({});
  context.std = { evalScript: (code: string) => vm.runInContext(code, context) };
  vm.runInContext(readFileSync(join(GUEST_DIR, 'handler.js'), 'utf8'), context);
  const handle = context.handle as (req: unknown) => { status?: number; headers?: Record<string, string>; body?: unknown };
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = handle({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

export async function benchJsPerRequest(host: Host, only: Only): Promise<Result[]> {
  const names = ['linux.jsPerRequest.latency', 'linux.jsPerRequest.throughput'].filter((n) => wanted(n, only));
  const units: Record<string, string> = { 'linux.jsPerRequest.latency': 'ms', 'linux.jsPerRequest.throughput': 'req/s' };
  const skipped = (why: string): Result[] => names.map((name) => ({ name, unit: units[name]!, value: NaN, skipped: why }));
  if (host.backend !== 'kvm') return skipped(`Linux programs run on kvm only (this host is ${host.backend})`);
  let qjs: string;
  try {
    qjs = await quickJs();
  } catch (err) {
    return skipped(`QuickJS cannot be built here (${(err as Error).message.split('\n')[0]})`);
  }
  const server = await startJsServer({ host, qjs });
  let pvm: { latencyMs: number; throughput: number };
  try {
    pvm = await measure(server.url);
  } finally {
    await server.close();
  }
  const base = await inProcessServer();
  let inProcess: { latencyMs: number; throughput: number };
  try {
    inProcess = await measure(`http://127.0.0.1:${(base.address() as AddressInfo).port}`);
  } finally {
    base.closeAllConnections();
    await new Promise<void>((resolve) => base.close(() => resolve()));
  }
  const rows: Result[] = [
    { name: 'linux.jsPerRequest.latency', unit: 'ms', value: round(pvm.latencyMs, 2), baseline: { name: 'node:vm in-process', value: round(inProcess.latencyMs, 2) } },
    { name: 'linux.jsPerRequest.throughput', unit: 'req/s', value: round(pvm.throughput, 0), baseline: { name: 'node:vm in-process', value: round(inProcess.throughput, 0) } },
  ];
  return rows.filter((r) => names.includes(r.name));
}
