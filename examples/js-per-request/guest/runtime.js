// The QuickJS side of examples/js-per-request, run as `qjs --std /runtime.js` in the
// template pVM. It loads the handler once, says it is ready, then blocks reading a
// request from standard input: the template waits there forever. The host forks the
// template for every request; each copy goes on from that read with the handler already
// loaded, reads its own request (the host writes it to the copy's stdin, then ends it),
// runs the handler and writes the response on a line of its own after a record
// separator (\x1e, so the handler's own output cannot be taken for it), then exits.
//
// Request: { method, url, headers, body } (body: a string). Response: { status, headers,
// body } (a body that is not a string is sent as JSON).
std.loadScript('/handler.js'); // defines globalThis.handle(request)
std.out.puts('ready\n');
std.out.flush(); // stdout is no terminal: fully buffered, and the copies must not repeat it

const input = std.in.readAsString(); // blocks (sleeping) until the host writes and ends it

function respond(response) {
  std.out.puts('\n\x1e' + JSON.stringify(response) + '\n');
  std.out.flush();
}

Promise.resolve()
  .then(() => handle(JSON.parse(input)))
  .then(
    (r) => {
      const res = r && typeof r === 'object' ? r : { body: r };
      const headers = Object.assign({}, res.headers);
      let body = res.body === undefined ? '' : res.body;
      if (typeof body !== 'string') {
        body = JSON.stringify(body);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
      respond({ status: res.status || 200, headers, body });
    },
    (e) => respond({ status: 500, headers: { 'content-type': 'text/plain' }, body: 'handler failed: ' + String(e) + '\n' }),
  );
