// The example's request handler, loaded once into the template pVM (runtime.js). Each
// request runs it in a fresh copy of the template: whatever it changes -- globals, the
// counter below, anything a piece of untrusted code does -- is gone with that copy.
let requests = 0; // counts the requests this copy has served: always 1

const routes = {
  // Who am I: a fresh copy every time (served is 1, however many came before).
  'GET /whoami': () => ({ body: { served: requests, engine: 'quickjs', leaked: typeof globalThis.leaked } }),
  // Some work: the n-th Fibonacci number, computed the slow way.
  'GET /fib': (req, q) => {
    const n = Number(q.n ?? 20);
    if (!Number.isInteger(n) || n < 0 || n > 30) return { status: 400, body: { error: 'n: 0..30' } };
    const fib = (k) => (k < 2 ? k : fib(k - 1) + fib(k - 2));
    return { body: { n, fib: fib(n) } };
  },
  // Untrusted code: the body is JavaScript, run here; its result is the answer. It may
  // set globals (gone after this request), throw (500), or never end (the host kills it).
  'POST /eval': (req) => {
    const result = std.evalScript(req.body);
    return { body: { result: result === undefined ? null : result } };
  },
  // Echo: what the handler was given.
  'POST /echo': (req) => ({ body: { method: req.method, url: req.url, type: req.headers['content-type'] ?? null, body: req.body } }),
};

// "a=1&b=x%20y" -> { a: '1', b: 'x y' }
function parseQuery(query) {
  const q = {};
  for (const part of query.split('&')) {
    if (!part) continue;
    const [k, v = ''] = part.split('=');
    q[decodeURIComponent(k)] = decodeURIComponent(v.replace(/\+/g, ' '));
  }
  return q;
}

globalThis.handle = function handle(req) {
  requests++;
  const [path, query = ''] = req.url.split('?');
  const route = routes[`${req.method} ${path}`];
  if (!route) return { status: 404, body: { error: `no route ${req.method} ${path}` } };
  return route(req, parseQuery(query));
};
