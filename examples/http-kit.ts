// What the fork-per-request examples share (fork-server.ts, js-per-request/server.ts):
// waiting for the template's ready line, a concurrency gate, body reading with a limit,
// JSON replies, the error-to-status mapping of a handler, listening and closing, and a
// small client for their self-tests.
import { createServer, request as httpRequest, type Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PvmError, describeExit, type Pvm } from '../lib/index.js';

/** `maxInFlight` checked: an integer 1..120 (a pVM has 128 child slots), else EINVAL. */
export function checkMaxInFlight(maxInFlight: number): number {
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 120) {
    throw new PvmError('EINVAL', 'maxInFlight: expected an integer 1..120');
  }
  return maxInFlight;
}

/**
 * Resolves with the match of `ready` in the template's console once it printed it (its
 * initialization is done); rejects if it ends first. Later console output (errors only)
 * goes to stderr.
 */
export function templateReady(template: Pvm, ready: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let isReady = false;
    template.console.on('data', (chunk: Buffer) => {
      if (isReady) return void process.stderr.write(`[template] ${chunk}`);
      seen += chunk;
      const m = ready.exec(seen);
      if (m) {
        isReady = true;
        resolve(m);
      }
    });
    void template.exited.then((status) => {
      if (!isReady) reject(new PvmError('EMONITOR', `the template ${describeExit(status)} before it was ready: ${seen}`));
    });
  });
}

/** Listens on `port` and `hostname`; resolves with the server's URL. */
export async function listen(http: Server, port: number, hostname: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, hostname, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const { address, port: bound } = http.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${bound}`;
}

/** Stops accepting and drops every connection; resolves once the server is closed. */
export function closeHttp(http: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    http.close(() => resolve());
    http.closeAllConnections();
  });
}

/** A counting semaphore: at most `n` holders. */
export class Gate {
  #free: number;
  #queue: Array<() => void> = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) return void this.#free--;
    await new Promise<void>((resolve) => this.#queue.push(resolve));
  }
  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free++;
  }
}

/** A request the server refuses with `status`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The request's body; HttpError 413 past `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new HttpError(413, `request body over ${maxBytes} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

/**
 * An HTTP server running `handle` per request. What it throws becomes the reply: an
 * HttpError its status; out of pVMs or child slots (EAGAIN, ENOMEM), an ended template
 * (ESRCH, ECLOSED) 503; anything else 500. `counted` runs after each request.
 */
export function httpServer(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, counted: () => void): Server {
  const http = createServer((req, res) => {
    handle(req, res)
      .catch((err: unknown) => {
        if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
        if (err instanceof PvmError) {
          const status = ['EAGAIN', 'ENOMEM', 'ESRCH', 'ECLOSED'].includes(err.code) ? 503 : 500;
          return sendJson(res, status, { error: `${err.code}: ${err.message}` });
        }
        sendJson(res, 500, { error: String(err) });
      })
      .finally(counted);
  });
  http.keepAliveTimeout = 10_000;
  return http;
}

/** One HTTP request on `agent`: status, headers and body text. */
export function fetchText(
  url: string,
  init: { method?: string; body?: string; agent?: Agent } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', agent: init.agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
