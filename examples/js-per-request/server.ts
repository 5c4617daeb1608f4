// JavaScript per request, each request in a VM of its own: an HTTP server (node:http)
// whose template pVM runs QuickJS (a static Linux program built from its sources:
// `npm run build:quickjs`) with a handler script loaded once, forked per request.
//
//   npm run example:js-per-request                     serve on http://127.0.0.1:8080 until Ctrl-C
//   npm run example:js-per-request -- --port 0         any free port
//   npm run example:js-per-request -- --requests 50    start, check 50 requests against itself, stop
//   npm run example:js-per-request -- --handler my.js  serve another handler (see guest/handler.js)
//
// At start the server spawns the template: `qjs --std /runtime.js` over the files of
// guest/ (the `files` spawn option) with `stdin: 'pipe'`. runtime.js loads /handler.js,
// prints "ready" and blocks reading its standard input. For each request the server
// forks the template (`template.fork()`): the copy goes on inside that read with the
// handler loaded; the server writes the request as JSON to the copy's stdin
// (`child.stdin.end(json)`), the copy runs the handler, writes the response as JSON (a
// line of its stdout after a \x1e) and exits; the server answers as soon as that line is
// complete. Nothing a request does outlives it: its globals,
// the handler's state, code it evaluated (POST /eval runs the body as JavaScript) are
// gone with its copy; one that throws gets a 500, one that never ends is killed (504).
//
// Then: curl http://127.0.0.1:8080/whoami
//       curl -d '[1, 2, 3].map((x) => x * x)' http://127.0.0.1:8080/eval
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { copyFileSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Host, PvmError, describeExit, type Pvm } from '../../lib/index.js';
import { packageRoot } from '../../lib/paths.js';
import { Gate, HttpError, checkMaxInFlight, closeHttp, fetchText, httpServer, listen, readBody, sendJson, templateReady } from '../http-kit.js';

export { fetchText };

/** The guest side: runtime.js and the default handler.js. */
export const GUEST_DIR = join(packageRoot, 'examples', 'js-per-request', 'guest');

/** build/linux-programs/qjs, built from its sources first if missing (scripts/linux-programs/quickjs.mjs). */
export async function quickJs(): Promise<string> {
  const script = pathToFileURL(join(packageRoot, 'scripts', 'linux-programs', 'quickjs.mjs')).href;
  const { buildQuickJs } = (await import(script)) as { buildQuickJs: () => Promise<string> };
  return buildQuickJs();
}

/** Options of {@link startJsServer}. */
export interface JsServerOptions {
  /** TCP port (default 0: any free port). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  hostname?: string;
  /** Run the pVMs on this Host (it stays open on close()); default: a Host of its own. */
  host?: Host;
  /** The handler script (default guest/handler.js): it sets `globalThis.handle(request)`. */
  handler?: string;
  /** The QuickJS binary (default: build/linux-programs/qjs, built if missing). */
  qjs?: string;
  /** Guest RAM of the template (and so of each copy); default 64 MiB. */
  memory?: string;
  /**
   * Fork through a warm spare (see SpawnOptions.forkSpares); default false: each copy
   * would make a spare of its own while it answers, which costs more than it saves here.
   */
  forkSpares?: boolean;
  /** Requests served at once; more wait their turn (default 32). */
  maxInFlight?: number;
  /** A request's pVM that has not answered after this long is killed: 504 (default 5000 ms). */
  timeoutMs?: number;
}

/** What the server has done so far. */
export interface JsServerStats {
  /** Requests answered (any status). */
  requests: number;
  /** pVMs forked for requests. */
  forks: number;
  /** Requests whose pVM crashed or sent no response (502) or was killed for taking too long (504). */
  failed: number;
}

/** A running server. */
export interface JsServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** The template every request's pVM is forked from (QuickJS, handler loaded, reading stdin). */
  readonly template: Pvm;
  readonly stats: JsServerStats;
  /** Stops listening, ends the template and every request's pVM, closes its own Host. */
  close(): Promise<void>;
}

/** What the handler is given (JSON on the copy's stdin). */
export interface JsRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What the handler answers (JSON on the copy's stdout, on a line after a \x1e). */
export interface JsResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const MAX_BODY = 1 << 20;

/** Starts the server; resolves once the template is ready and the port listens. */
export async function startJsServer(options: JsServerOptions = {}): Promise<JsServer> {
  const maxInFlight = checkMaxInFlight(options.maxInFlight ?? 32);
  const timeoutMs = options.timeoutMs ?? 5000;
  const qjs = options.qjs ?? (await quickJs());
  // The template's files: runtime.js and the handler, as /runtime.js and /handler.js.
  const files = mkdtempSync(join(tmpdir(), 'pvm-js-per-request-'));
  const ownHost = !options.host;
  let host: Host | undefined = options.host;
  let template: Pvm | undefined;
  try {
    for (const f of readdirSync(GUEST_DIR)) copyFileSync(join(GUEST_DIR, f), join(files, f));
    if (options.handler) copyFileSync(options.handler, join(files, 'handler.js'));
    host ??= await Host.open();
    template = await host.spawn(qjs, {
      args: ['--std', '/runtime.js'],
      memory: options.memory ?? '64MiB',
      files: { dir: files },
      stdin: 'pipe', // never written: the template waits in its read; each copy gets its own stdin
      forkSpares: options.forkSpares ?? false,
    });
    // "ready": the handler is loaded and the template waits for a request.
    await templateReady(template, /ready\n/);
    const server = serve(template, maxInFlight, timeoutMs);
    const url = await listen(server.http, options.port ?? 0, options.hostname ?? '127.0.0.1');
    const t = template;
    const h = host;
    let closing: Promise<void> | undefined;
    return {
      url,
      template: t,
      stats: server.stats,
      close: () =>
        (closing ??= (async () => {
          await closeHttp(server.http);
          // SIGKILL ends the template's monitor and with it every copy forked from it.
          t.kill('SIGKILL');
          await Promise.all([t.exited, ...[...server.live].map((p) => p.exited)]);
          if (ownHost) await h.close();
          rmSync(files, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    template?.kill('SIGKILL');
    await template?.exited;
    if (ownHost) await host?.close();
    rmSync(files, { recursive: true, force: true });
    throw err;
  }
}



/**
 * The response a copy wrote: the JSON on the line after the \x1e in its output; null if
 * there is none (yet) or it is malformed.
 */
export function parseResponse(output: string): JsResponse | null {
  const at = output.lastIndexOf('\x1e');
  const end = at < 0 ? -1 : output.indexOf('\n', at);
  if (end < 0) return null;
  const line = output.slice(at + 1, end);
  try {
    const r = JSON.parse(line) as JsResponse;
    if (!Number.isInteger(r.status) || r.status < 100 || r.status > 599 || typeof r.body !== 'string') return null;
    return { status: r.status, headers: r.headers && typeof r.headers === 'object' ? r.headers : {}, body: r.body };
  } catch {
    return null;
  }
}

function serve(template: Pvm, maxInFlight: number, timeoutMs: number) {
  const stats: JsServerStats = { requests: 0, forks: 0, failed: 0 };
  const live = new Set<Pvm>();
  const gate = new Gate(maxInFlight);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = (await readBody(req, MAX_BODY)).toString('utf8');
    const request: JsRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body };
    await gate.acquire();
    try {
      const t0 = process.hrtime.bigint();
      // A copy of the template, inside its read of stdin with the handler loaded.
      const { child, channel, childReadyUs } = await template.fork();
      channel.close(); // the request goes by stdin, the response by stdout
      stats.forks++;
      live.add(child);
      void child.exited.then(() => live.delete(child));
      // The answer: the response line as soon as it is complete (the copy exits on its
      // own right after), or how the copy ended without one, or the timeout.
      let output = '';
      let answered: (r: JsResponse) => void = () => {};
      const response = new Promise<JsResponse>((resolve) => (answered = resolve));
      child.console.setEncoding('utf8').on('data', (d: string) => {
        output += d;
        const r = d.includes('\n') ? parseResponse(output) : null;
        if (r) answered(r);
      });
      child.stdin!.end(JSON.stringify(request));
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        response,
        child.exited,
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
      ]).finally(() => clearTimeout(timer));
      const headers = {
        'x-pvm-id': String(child.id),
        'server-timing': `fork;dur=${(childReadyUs / 1000).toFixed(3)}, total;dur=${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(3)}`,
      };
      if (ended === 'timeout') {
        child.kill('SIGKILL');
        await child.exited;
        stats.failed++;
        return sendJson(res, 504, { error: `request pVM ${child.id} did not answer in ${timeoutMs} ms: killed` }, headers);
      }
      // It ended: the response may have come in its last output.
      const got = 'kind' in ended ? (ended.kind === 'exit' ? parseResponse(output) : null) : ended;
      if (!got) {
        stats.failed++;
        const how = 'kind' in ended ? describeExit(ended) : 'ended';
        return sendJson(res, 502, { error: `request pVM ${child.id} ${how} without a response` }, headers);
      }
      res.writeHead(got.status, { ...got.headers, ...headers });
      res.end(got.body);
      // It exits by itself after answering; one that lingers (a timer of the handler's) is ended.
      setTimeout(() => child.running && child.kill('SIGKILL'), timeoutMs).unref();
    } finally {
      gate.release();
    }
  }

  const http = httpServer(handle, () => stats.requests++);
  return { http, stats, live };
}

// ---- running the file: serve, or check itself ------------------------------------------


/**
 * `count` requests (fib, eval that sets a global, whoami that must not see it), 4 at a
 * time, each answer checked; throws on a wrong one.
 */
export async function selfTest(url: string, count: number): Promise<{ medianMs: number; pvms: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const times: number[] = [];
  const pvms = new Set<string>();
  const FIB = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765];
  let next = 0;
  const one = async (i: number): Promise<void> => {
    const t0 = performance.now();
    let r: Awaited<ReturnType<typeof fetchText>>;
    let check: (value: unknown) => boolean;
    switch (i % 3) {
      case 0: {
        const n = i % FIB.length;
        r = await fetchText(`${url}/fib?n=${n}`, { agent });
        check = (v) => (v as { fib: number }).fib === FIB[n];
        break;
      }
      case 1:
        r = await fetchText(`${url}/eval`, { method: 'POST', body: `globalThis.leaked = ${i}; leaked * 2`, agent });
        check = (v) => (v as { result: number }).result === i * 2;
        break;
      default:
        r = await fetchText(`${url}/whoami`, { agent });
        // A fresh copy of the template every time: one request served, no global left by an earlier one.
        check = (v) => (v as { served: number; leaked: string }).served === 1 && (v as { leaked: string }).leaked === 'undefined';
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
      handler: { type: 'string' },
    },
  });
  const requests = values.requests === undefined ? 0 : Number(values.requests);
  if (!Number.isInteger(requests) || requests < 0) throw new Error('--requests: expected a whole number');
  const port = Number(values.port ?? (requests ? 0 : 8080));
  const server = await startJsServer({ port, handler: values.handler });
  console.log(`js-per-request server on ${server.url} (template pVM ${server.template.id}: QuickJS with the handler loaded)`);
  if (requests) {
    try {
      const { medianMs, pvms } = await selfTest(server.url, requests);
      console.log(`${requests} requests checked, answered by ${pvms} pVMs, median ${medianMs.toFixed(2)} ms; no request saw another's globals`);
    } finally {
      await server.close();
    }
    console.log(`served ${server.stats.requests} requests with ${server.stats.forks} forks; closed`);
    return;
  }
  console.log(`try: curl ${server.url}/whoami   curl -d '[1, 2, 3].map((x) => x * x)' ${server.url}/eval   (Ctrl-C stops)`);
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  await server.close();
  console.log(`\nserved ${server.stats.requests} requests with ${server.stats.forks} forks; closed`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof PvmError ? `${err.code}: ${err.message}` : err);
    process.exitCode = 1;
  });
}
