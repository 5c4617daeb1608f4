// Load generator of bench/server.ts, run as a process of its own so that it does not
// share the server's event loop:
//
//   node bench/server-load.mjs --url http://127.0.0.1:PORT --concurrency 1 \
//        [--duration-ms 3000] [--max-requests 500] [--warmup 20]
//
// `concurrency` clients, each with its own keep-alive connection on loopback
// (http.request, one Agent), send the request mix (requestOf in server-worker.mjs) back
// to back: `warmup` requests first (not counted), then until `duration-ms` has passed
// or `max-requests` have been sent. Every answer must be 200 with a JSON body. Prints
// one JSON line:
// { requests, errors, firstError, seconds, throughput, latencyUs: { median, p99, min, max, mean } }
//
//   node bench/server-load.mjs --url ... --digest N
//
// sends the first N requests of the mix one by one and prints { digest }: a SHA-256 of
// every status and body, to check that two servers give the same answers.
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { requestOf } from './server-worker.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    'duration-ms': { type: 'string', default: '3000' },
    'max-requests': { type: 'string', default: '1000000' },
    warmup: { type: 'string', default: '10' },
    digest: { type: 'string' },
  },
});
if (!values.url) {
  console.error('usage: node server-load.mjs --url <base url> [--concurrency N] [--duration-ms MS] [--max-requests N] [--warmup N]');
  process.exit(2);
}
const base = new URL(values.url);
const concurrency = Number(values.concurrency);
const durationMs = Number(values['duration-ms']);
const maxRequests = Number(values['max-requests']);
const warmup = Number(values.warmup);

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

function send(i, onAnswer) {
  const { method, path, body } = requestOf(i);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port, method, path, agent, headers: body ? { 'content-length': Buffer.byteLength(body) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          onAnswer?.(`${method} ${path} ${body ?? ''} -> ${res.statusCode} ${text}\n`);
          if (res.statusCode !== 200) return reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          try {
            JSON.parse(text);
          } catch {
            return reject(new Error(`${method} ${path}: not JSON: ${text.slice(0, 200)}`));
          }
          resolve();
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let next = 0;
let errors = 0;
let firstError;
const latencies = [];

async function client(limit, deadline, record) {
  while (next < limit && (deadline === 0 || performance.now() < deadline)) {
    const i = next++;
    const t0 = performance.now();
    try {
      await send(i);
      if (record) latencies.push((performance.now() - t0) * 1000);
    } catch (err) {
      errors++;
      firstError ??= String(err.message ?? err);
    }
  }
}

const clients = (limit, deadline, record) => Promise.all(Array.from({ length: concurrency }, () => client(limit, deadline, record)));

if (values.digest) {
  const hash = createHash('sha256');
  for (let i = 0; i < Number(values.digest); i++) await send(i, (line) => hash.update(line));
  agent.destroy();
  console.log(JSON.stringify({ digest: hash.digest('hex') }));
  process.exit(0);
}

await clients(warmup, 0, false);
const start = performance.now();
await clients(warmup + maxRequests, start + durationMs, true);
const seconds = (performance.now() - start) / 1000;
agent.destroy();

latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
const round = (v) => Math.round(v * 10) / 10;
console.log(
  JSON.stringify({
    requests: latencies.length,
    errors,
    firstError,
    seconds: round(seconds),
    throughput: round(latencies.length / seconds),
    latencyUs: {
      median: round(at(0.5)),
      p99: round(at(0.99)),
      min: round(latencies[0] ?? NaN),
      max: round(latencies[latencies.length - 1] ?? NaN),
      mean: round(latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1)),
    },
  }),
);
