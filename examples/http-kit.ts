// The HTTP plumbing the fork-per-request examples share (fork-server.ts,
// js-per-request/server.ts): a concurrency gate, body reading with a limit, JSON replies,
// the error-to-status mapping of a handler, and a small client for their self-tests.
import { createServer, request as httpRequest, type Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { PvmError } from '../lib/index.js';

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
