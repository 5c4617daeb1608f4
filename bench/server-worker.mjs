// The service of examples/guests/prime_service.c in JavaScript, for the baselines of
// bench/server.ts: the same sieve up to 10^7, the same tables, the same answers, byte
// for byte (bench/server.ts checks that before it measures). Plain .mjs, so a process
// per request starts without a TypeScript loader.
//
//   as a worker_threads worker (workerData: { limit }): builds the tables once, then
//     answers { id, method, url, body } messages with { id, status, type, body };
//   as a child process (`node server-worker.mjs --once`, forked with an IPC channel):
//     builds the tables, answers the one request it is sent, exits.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

/** Builds the tables (the expensive part) and returns the request handler. */
export function createService(limit = 10_000_000) {
  const nodd = Math.floor((limit + 1) / 2); // index i is the odd number 2i+1
  const words = Math.floor(nodd / 64) + 1;
  const composite = new Uint8Array(words * 64); // 1: 2i+1 is not prime
  composite[0] = 1;
  for (let i = 1; (2 * i + 1) * (2 * i + 1) <= limit; i++) {
    if (composite[i]) continue;
    const p = 2 * i + 1;
    for (let j = (p * p - 1) / 2; j < nodd; j += p) composite[j] = 1;
  }
  composite.fill(1, nodd);
  const before = new Uint32Array(words + 1); // odd primes with index < 64*w
  let count = 0;
  for (let w = 0; w < words; w++) {
    before[w] = count;
    for (let b = 0; b < 64; b++) count += composite[w * 64 + b] ^ 1;
  }
  before[words] = count;

  const isPrime = (n) => (n < 2 ? false : n % 2 === 0 ? n === 2 : composite[(n - 1) / 2] === 0);
  const pi = (n) => {
    if (n < 2) return 0;
    const last = Math.floor((n - 1) / 2);
    const w = Math.floor(last / 64);
    let c = 1 + before[w];
    for (let i = w * 64; i <= last; i++) c += composite[i] ^ 1;
    return c;
  };
  const number = (s) => (/^\d{1,19}$/.test(s) ? Number(s) : undefined);
  const param = (query, name) => {
    for (const part of query.split('&')) if (part.startsWith(`${name}=`)) return number(part.slice(name.length + 1));
    return undefined;
  };
  const json = 'application/json';
  const error = (status, message) => ({ status, type: json, body: `{"error":"${message}"}` });

  function factor(body) {
    const n = number(body.replace(/^ +/, '').replace(/[\r\n ]+$/, ''));
    if (n === undefined || n < 2 || n > limit * limit) return error(400, 'body: a number from 2 to limit squared');
    const factors = [];
    let m = n;
    while (m % 2 === 0) {
      factors.push(2);
      m /= 2;
    }
    for (let i = 1; i < nodd && (2 * i + 1) * (2 * i + 1) <= m; i++) {
      if (composite[i]) continue;
      const p = 2 * i + 1;
      while (m % p === 0) {
        factors.push(p);
        m /= p;
      }
    }
    if (m > 1) factors.push(m);
    return { status: 200, type: json, body: `{"n":${n},"factors":[${factors.join(',')}]}` };
  }

  /** The reply to one request. */
  return function handle(method, url, body) {
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? '' : url.slice(q + 1);
    const get = method === 'GET';
    if (path === '/isprime' && get) {
      const n = param(query, 'n');
      if (n === undefined || n > limit) return error(400, 'n: a number from 0 to limit');
      return { status: 200, type: json, body: `{"n":${n},"prime":${isPrime(n)}}` };
    }
    if (path === '/pi' && get) {
      const n = param(query, 'n');
      if (n === undefined || n > limit) return error(400, 'n: a number from 0 to limit');
      return { status: 200, type: json, body: `{"n":${n},"pi":${pi(n)}}` };
    }
    if (path === '/primes' && get) {
      const from = param(query, 'from');
      if (from === undefined || from > limit) return error(400, 'from: a number from 0 to limit');
      const count = param(query, 'count');
      if (count === undefined || count > 1000) return error(400, 'count: a number from 0 to 1000');
      const primes = [];
      for (let m = from; m <= limit && primes.length < count; m++) if (isPrime(m)) primes.push(m);
      return { status: 200, type: json, body: `{"from":${from},"primes":[${primes.join(',')}]}` };
    }
    if (path === '/factor' && method === 'POST') return factor(body);
    return error(404, 'not found');
  };
}

/** The i-th request of the mix: cheap lookups and some arithmetic, as a service would see. */
export function requestOf(i) {
  const x = (i * 2_654_435_761) % 10_000_000; // spread over the table
  switch (i % 4) {
    case 0:
      return { method: 'GET', path: `/pi?n=${x}` };
    case 1:
      return { method: 'GET', path: `/isprime?n=${x | 1}` };
    case 2:
      return { method: 'GET', path: `/primes?from=${x}&count=10` };
    default:
      return { method: 'POST', path: '/factor', body: String(2 + ((i * 7_919_111) % 9_999_999_998)) };
  }
}

if (!isMainThread && parentPort) {
  const handle = createService(workerData?.limit);
  parentPort.on('message', ({ id, method, url, body }) => parentPort.postMessage({ id, ...handle(method, url, body) }));
  parentPort.postMessage({ ready: true });
} else if (process.argv.includes('--once') && process.send) {
  const handle = createService(Number(process.argv[process.argv.indexOf('--once') + 1]) || undefined);
  process.once('message', ({ method, url, body }) => {
    process.send(handle(method, url, body), () => process.disconnect());
  });
}
