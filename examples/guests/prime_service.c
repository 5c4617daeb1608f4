/*
 * prime_service [limit] [reset]: the template of examples/fork-server.ts.
 *
 * At start it does the expensive part once: a sieve of Eratosthenes up to `limit`
 * (default 10,000,000; odd numbers only, one bit each) plus a table of prime counts per
 * 64-bit word, so that pi(n) is one lookup and a popcount. Then it prints
 *   "prime_service: ready limit=<limit> primes=<pi(limit)> init_ms=<ms>"
 * and waits (WAIT, no CPU). It never serves anything itself: the host forks it once per
 * HTTP request, and each copy (which resumes right here with the tables already built)
 * takes one request from its fork channel, answers it and exits. With "reset" as the
 * second argument a copy rewinds itself instead of exiting (pvm_reset(): back to its fork
 * point, here, with nothing of the request left), so that one copy serves request after
 * request (the server's resetPerRequest mode); where reset cannot work (ENOSYS: the
 * process backend) it exits as without.
 *
 * Request:  "<METHOD> <path>[?query]\n<body>"
 * Reply:    "<status> <content-type>\n<body>"
 *
 *   GET  /                      what this service answers (text)
 *   GET  /whoami                template and copy ids, requests this copy has served
 *   GET  /isprime?n=N           {"n":N,"prime":true|false}                 (N <= limit)
 *   GET  /pi?n=N                {"n":N,"pi":<number of primes <= N>}      (N <= limit)
 *   GET  /primes?from=A&count=C {"from":A,"primes":[...]}  the first C primes >= A (C <= 1000)
 *   POST /factor   body "N"     {"n":N,"factors":[...]}  (2 <= N <= limit^2)
 *   GET  /remember?v=N          {"v":N,"before":B}: keeps N in its memory (a static and a
 *                               fresh heap block), B what an earlier request kept there (0:
 *                               none -- always, in a fresh or reset copy)
 *   GET  /crash                 the copy dereferences NULL: only it dies
 *   GET  /hang                  the copy spins forever: the host's timeout kills it
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 10000000UL
#define MAX_LIMIT 1000000000UL
#define MAX_LIST 1000

static unsigned long limit;  /* numbers up to this are in the sieve */
static int reset_after;      /* "reset": a copy rewinds itself after each request */
static unsigned long remembered;        /* GET /remember: what a request left behind */
static unsigned long *remembered_heap;
static unsigned long nodd;   /* odd numbers 1, 3, ..., <= limit: index i is 2i+1 */
static uint64_t *composite;  /* bit i set: 2i+1 is not prime (1 counts as not prime) */
static uint32_t *before;     /* before[w]: odd primes with index < 64*w */
static unsigned long served; /* requests this copy took: 1 in a copy, 0 in the template, always */

static unsigned char request[PVM_CHANNEL_MAX_MESSAGE + 1];
static char reply[PVM_CHANNEL_MAX_MESSAGE];

static int is_prime(unsigned long n)
{
  if (n < 2)
    return 0;
  if (n % 2 == 0)
    return n == 2;
  unsigned long i = n / 2;
  return !(composite[i / 64] >> (i % 64) & 1);
}

/* Primes <= n (n <= limit). */
static unsigned long pi(unsigned long n)
{
  if (n < 2)
    return 0;
  unsigned long last = (n - 1) / 2; /* index of the largest odd number <= n */
  unsigned long w = last / 64;
  unsigned bit = last % 64;
  uint64_t mask = bit == 63 ? ~0ULL : (1ULL << (bit + 1)) - 1;
  return 1 /* 2 */ + before[w] + (unsigned long)__builtin_popcountll(~composite[w] & mask);
}

static void build_tables(void)
{
  nodd = (limit + 1) / 2;
  unsigned long words = nodd / 64 + 1;
  composite = calloc(words, sizeof *composite);
  before = calloc(words + 1, sizeof *before);
  if (!composite || !before) {
    printf("prime_service: out of memory for a sieve up to %lu\n", limit);
    exit(1);
  }
  composite[0] |= 1; /* 1 */
  for (unsigned long i = 1; (2 * i + 1) * (2 * i + 1) <= limit; i++) {
    if (composite[i / 64] >> (i % 64) & 1)
      continue;
    unsigned long p = 2 * i + 1;
    for (unsigned long j = (p * p) / 2; j < nodd; j += p)
      composite[j / 64] |= 1ULL << (j % 64);
  }
  /* Indexes past the last odd number <= limit are "not prime", so counts stay right. */
  for (unsigned long j = nodd; j < words * 64; j++)
    composite[j / 64] |= 1ULL << (j % 64);
  uint32_t count = 0;
  for (unsigned long w = 0; w < words; w++) {
    before[w] = count;
    count += (uint32_t)__builtin_popcountll(~composite[w]);
  }
  before[words] = count;
}

/* ---- request parsing ------------------------------------------------------------- */

/* A decimal number of exactly the bytes [s, end): 0 and *ok = 0 if it is not one. */
static unsigned long parse_number(const char *s, const char *end, int *ok)
{
  unsigned long v = 0;
  *ok = s < end && end - s <= 19;
  for (const char *p = s; *ok && p < end; p++) {
    if (*p < '0' || *p > '9')
      *ok = 0;
    else
      v = v * 10 + (unsigned long)(*p - '0');
  }
  return *ok ? v : 0;
}

/* The value of query parameter `name` in `query` (a "a=1&b=2" string of `len` bytes). */
static int query_param(const char *query, size_t len, const char *name, unsigned long *out)
{
  size_t nlen = strlen(name);
  const char *p = query, *end = query + len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *stop = amp ? amp : end;
    if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
      int ok;
      *out = parse_number(p + nlen + 1, stop, &ok);
      return ok;
    }
    p = stop + 1;
  }
  return 0;
}

static size_t respond(int status, const char *type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static size_t respond(int status, const char *type, const char *fmt, ...)
{
  int head = snprintf(reply, sizeof reply, "%d %s\n", status, type);
  va_list ap;
  va_start(ap, fmt);
  int body = vsnprintf(reply + head, sizeof reply - (size_t)head, fmt, ap);
  va_end(ap);
  size_t n = (size_t)head + (size_t)body;
  return n < sizeof reply ? n : sizeof reply - 1;
}

static size_t error(int status, const char *message)
{
  return respond(status, "application/json", "{\"error\":\"%s\"}", message);
}

/* Appends to `reply` at *at; 0 when it does not fit. */
static int append(size_t *at, const char *fmt, unsigned long v)
{
  int n = snprintf(reply + *at, sizeof reply - *at, fmt, v);
  if (n < 0 || (size_t)n >= sizeof reply - *at)
    return 0;
  *at += (size_t)n;
  return 1;
}

static size_t factor(const char *body, size_t len)
{
  while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
    len--;
  while (len && *body == ' ')
    body++, len--;
  int ok;
  unsigned long n = parse_number(body, body + len, &ok);
  if (!ok || n < 2 || n > limit * limit)
    return error(400, "body: a number from 2 to limit squared");
  size_t at = (size_t)respond(200, "application/json", "{\"n\":%lu,\"factors\":[", n);
  const char *sep = "%lu";
  unsigned long m = n;
  while (m % 2 == 0) {
    append(&at, sep, 2);
    sep = ",%lu";
    m /= 2;
  }
  for (unsigned long i = 1; i < nodd && (2 * i + 1) * (2 * i + 1) <= m; i++) {
    if (composite[i / 64] >> (i % 64) & 1)
      continue;
    unsigned long p = 2 * i + 1;
    while (m % p == 0) {
      append(&at, sep, p);
      sep = ",%lu";
      m /= p;
    }
  }
  if (m > 1)
    append(&at, sep, m); /* no factor <= sqrt(m) <= limit: m is prime */
  append(&at, "]}", 0);
  return at;
}

static size_t handle(size_t len)
{
  char *text = (char *)request;
  text[len] = 0;
  char *nl = memchr(text, '\n', len);
  char *line_end = nl ? nl : text + len;
  const char *body = nl ? nl + 1 : text + len;
  size_t body_len = (size_t)(text + len - body);
  char *space = memchr(text, ' ', (size_t)(line_end - text));
  if (!space)
    return error(400, "bad request line");
  *space = 0;
  const char *method = text;
  char *path = space + 1;
  *line_end = 0;
  char *q = strchr(path, '?');
  const char *query = q ? q + 1 : "";
  if (q)
    *q = 0;
  size_t qlen = strlen(query);
  int get = strcmp(method, "GET") == 0;
  unsigned long n, from, count;

  if (strcmp(path, "/") == 0 && get)
    return respond(200, "text/plain",
                   "prime_service: a pVM forked per request from a template that sieved up to %lu once.\n"
                   "GET /isprime?n=N  GET /pi?n=N  GET /primes?from=A&count=C  POST /factor (body N)  "
                   "GET /whoami  GET /crash  GET /hang\n",
                   limit);
  if (strcmp(path, "/whoami") == 0 && get)
    return respond(200, "application/json", "{\"template\":%lu,\"pvm\":%lu,\"served\":%lu,\"limit\":%lu}",
                   (unsigned long)pvm_parent_id(), (unsigned long)pvm_id(), served, limit);
  if (strcmp(path, "/isprime") == 0 && get) {
    if (!query_param(query, qlen, "n", &n) || n > limit)
      return error(400, "n: a number from 0 to limit");
    return respond(200, "application/json", "{\"n\":%lu,\"prime\":%s}", n, is_prime(n) ? "true" : "false");
  }
  if (strcmp(path, "/pi") == 0 && get) {
    if (!query_param(query, qlen, "n", &n) || n > limit)
      return error(400, "n: a number from 0 to limit");
    return respond(200, "application/json", "{\"n\":%lu,\"pi\":%lu}", n, pi(n));
  }
  if (strcmp(path, "/primes") == 0 && get) {
    if (!query_param(query, qlen, "from", &from) || from > limit)
      return error(400, "from: a number from 0 to limit");
    if (!query_param(query, qlen, "count", &count) || count > MAX_LIST)
      return error(400, "count: a number from 0 to 1000");
    size_t at = respond(200, "application/json", "{\"from\":%lu,\"primes\":[", from);
    const char *sep = "%lu";
    for (unsigned long m = from, found = 0; m <= limit && found < count; m++) {
      if (is_prime(m)) {
        append(&at, sep, m);
        sep = ",%lu";
        found++;
      }
    }
    append(&at, "]}", 0);
    return at;
  }
  if (strcmp(path, "/factor") == 0 && strcmp(method, "POST") == 0)
    return factor(body, body_len);
  if (strcmp(path, "/remember") == 0 && get) {
    if (!query_param(query, qlen, "v", &n))
      return error(400, "v: a number");
    unsigned long before = remembered;
    if (remembered_heap && *remembered_heap != before)
      return error(500, "the static and the heap disagree");
    remembered = n;
    remembered_heap = malloc(sizeof *remembered_heap);
    if (remembered_heap)
      *remembered_heap = n;
    return respond(200, "application/json", "{\"v\":%lu,\"before\":%lu}", n, before);
  }
  if (strcmp(path, "/crash") == 0 && get) {
    volatile unsigned long *nowhere = 0;
    return (size_t)*nowhere; /* #PF: this copy ends with a fault, nothing else does */
  }
  if (strcmp(path, "/hang") == 0 && get)
    for (;;)
      __asm__ volatile("pause");
  if (strcmp(path, "/") == 0 || strcmp(path, "/whoami") == 0 || strcmp(path, "/isprime") == 0 ||
      strcmp(path, "/pi") == 0 || strcmp(path, "/primes") == 0 || strcmp(path, "/factor") == 0 ||
      strcmp(path, "/crash") == 0 || strcmp(path, "/hang") == 0 || strcmp(path, "/remember") == 0)
    return error(405, "method not allowed");
  return error(404, "not found");
}

/* A copy the host forked: one request, one reply, exit. */
static int serve_one(uint32_t slot)
{
  long n = pvm_channel_recv(slot, request, sizeof request - 1);
  if (n == -PVM_EPIPE)
    return 0; /* the host gave up on this request */
  if (n < 0) {
    printf("prime_service: recv failed: %s\n", pvm_strerror(n));
    return 1;
  }
  served++;
  size_t len = handle((size_t)n);
  long r = pvm_channel_send(slot, reply, len);
  if (r < 0 && r != -PVM_EPIPE) {
    printf("prime_service: send failed: %s\n", pvm_strerror(r));
    return 1;
  }
  if (reset_after)
    pvm_reset(); /* does not return where it works: this copy is back at its fork point */
  return 0;
}

int main(int argc, char **argv)
{
  limit = argc > 1 ? strtoul(argv[1], 0, 10) : DEFAULT_LIMIT;
  reset_after = argc > 2 && strcmp(argv[2], "reset") == 0;
  if (limit < 100 || limit > MAX_LIMIT) {
    printf("prime_service: limit must be 100..%lu\n", MAX_LIMIT);
    return 2;
  }
  uint64_t start = pvm_time_ns();
  build_tables();
  uint64_t ms = (pvm_time_ns() - start) / 1000000;
  printf("prime_service: ready limit=%lu primes=%lu init_ms=%lu\n", limit, pi(limit), (unsigned long)ms);
  pvm_console_flush();
  for (;;) {
    /* The template sleeps here. A copy the host forks resumes here too, and finds the
     * channel to the host as its fork channel. */
    uint32_t slot = pvm_fork_channel();
    if (slot != PVM_CHANNEL_NONE && pvm_channel_is_open(slot))
      return serve_one(slot);
    long r = pvm_wait(0, 0, ~0ULL);
    if (r < 0 && r != -PVM_EINTR) {
      printf("prime_service: wait failed: %s\n", pvm_strerror(r));
      return 1;
    }
    if (r == -PVM_EINTR)
      pvm_signals();
  }
}
