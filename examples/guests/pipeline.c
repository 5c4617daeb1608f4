/*
 * pipeline <count> <stage>...: a chain of pVMs built by fork, like a shell pipeline;
 * examples/pipeline.ts runs it.
 *
 * The pVM the host spawns is the source. Before doing anything it forks the next stage,
 * which forks the one after it, and so on: stage k+1 is stage k's child, and the
 * channel FORK made between them is the pipe from k to k+1. So the chain is
 *
 *   source ──▶ <stage> ──▶ <stage> ──▶ … ──▶ sink
 *   (spawned)  (child)     (grandchild)      (deepest descendant)
 *
 * Every item is one message: a u64, little-endian.
 *   source       sends 1, 2, …, count
 *   prime        passes on the primes only (trial division)
 *   square       x -> x*x mod 1000000007
 *   digitsum     x -> the sum of x's decimal digits
 *   sink         counts and sums what arrives, and folds it into an order-sensitive
 *                hash h = (h * 31 + x) mod 2^64. It then takes a channel from the host
 *                (pvm_channel_accept) and sends "count=<n> sum=<s> hash=<h>" on it.
 * A stage that reads end-of-stream closes its output, waits for its child and exits
 * with the child's status (0 when all went well), so the source's exit status is the
 * whole pipeline's. Each stage prints one line: what it passed on, and in how long.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOD 1000000007ULL
#define MAX_STAGES 16

static int is_prime(uint64_t n)
{
  if (n < 2)
    return 0;
  if (n % 2 == 0)
    return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2)
    if (n % d == 0)
      return 0;
  return 1;
}

static uint64_t digit_sum(uint64_t x)
{
  uint64_t s = 0;
  for (; x; x /= 10)
    s += x % 10;
  return s;
}

static void fail(const char *what, long err)
{
  printf("pipeline: pVM %lu: %s: %s\n", (unsigned long)pvm_id(), what, pvm_strerror(err));
  exit(1);
}

static void send_u64(uint32_t slot, uint64_t v)
{
  int r = pvm_channel_send(slot, &v, sizeof v);
  if (r < 0)
    fail("send", r);
}

/* The next item, or 0 with *end = 1 at end of stream. */
static uint64_t recv_u64(uint32_t slot, int *end)
{
  uint64_t v = 0;
  long n;
  while ((n = pvm_channel_recv(slot, &v, sizeof v)) == -PVM_EINTR)
    pvm_signals();
  if (n == -PVM_EPIPE) {
    *end = 1;
    return 0;
  }
  if (n != (long)sizeof v)
    fail("recv", n < 0 ? n : -PVM_EINVAL);
  return v;
}

static int valid_stage(const char *s)
{
  return strcmp(s, "prime") == 0 || strcmp(s, "square") == 0 || strcmp(s, "digitsum") == 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    printf("usage: pipeline <count> [prime|square|digitsum]...\n");
    return 2;
  }
  uint64_t count = strtoull(argv[1], 0, 10);
  int ntransforms = argc - 2;
  if (ntransforms > MAX_STAGES) {
    printf("pipeline: at most %d transform stages\n", MAX_STAGES);
    return 2;
  }
  for (int i = 0; i < ntransforms; i++) {
    if (!valid_stage(argv[2 + i])) {
      printf("pipeline: unknown stage '%s'\n", argv[2 + i]);
      return 2;
    }
  }
  int last = ntransforms + 1; /* stages: 0 source, 1..ntransforms, last = sink */

  /* Build the chain: each stage forks the next one and keeps the channel as its output;
   * the child takes the same channel as its input and goes round again. */
  int stage = 0;
  uint32_t in = PVM_CHANNEL_NONE, out = PVM_CHANNEL_NONE;
  long child = 0;
  while (stage < last) {
    uint32_t ch;
    long r = pvm_fork(&ch);
    if (r < 0)
      fail("fork", r);
    if (r == 0) {
      stage++;
      in = ch;
      continue;
    }
    child = r;
    out = ch;
    break;
  }

  uint64_t start = pvm_time_ns();
  uint64_t passed = 0, seen = 0;
  const char *name = stage == 0 ? "source" : stage == last ? "sink" : argv[1 + stage];

  if (stage == 0) {
    for (uint64_t i = 1; i <= count; i++)
      send_u64(out, i);
    passed = count; /* nothing in: it makes them */
  } else if (stage < last) {
    int prime = strcmp(name, "prime") == 0, square = strcmp(name, "square") == 0;
    for (int end = 0;;) {
      uint64_t x = recv_u64(in, &end);
      if (end)
        break;
      seen++;
      if (prime) {
        if (!is_prime(x))
          continue;
      } else if (square) {
        x = (x % MOD) * (x % MOD) % MOD;
      } else {
        x = digit_sum(x);
      }
      send_u64(out, x);
      passed++;
    }
  } else {
    uint64_t sum = 0, hash = 0;
    for (int end = 0;;) {
      uint64_t x = recv_u64(in, &end);
      if (end)
        break;
      seen++;
      sum += x;
      hash = hash * 31 + x;
    }
    passed = seen;
    uint64_t peer;
    long host = pvm_channel_accept(&peer, 30ULL * 1000000000ULL);
    if (host < 0)
      fail("accept", host);
    char line[128];
    int n = snprintf(line, sizeof line, "count=%llu sum=%llu hash=%llu", (unsigned long long)seen,
                     (unsigned long long)sum, (unsigned long long)hash);
    int r = pvm_channel_send((uint32_t)host, line, (size_t)n);
    if (r < 0)
      fail("send result", r);
  }

  uint64_t us = (pvm_time_ns() - start) / 1000;
  printf("stage %d %-8s pVM %lu: %llu in, %llu out, %llu us\n", stage, name, (unsigned long)pvm_id(),
         (unsigned long long)seen, (unsigned long long)passed, (unsigned long long)us);
  if (stage == last)
    return 0;
  pvm_channel_close(out); /* end of stream for the next stage */
  struct pvm_child_status st;
  long w;
  while ((w = pvm_waitpid((uint64_t)child, &st, ~0ULL)) == -PVM_EINTR)
    pvm_signals();
  if (w != child)
    fail("waitpid", w);
  if (st.kind != PVM_WAIT_EXIT) {
    printf("pipeline: stage %d (pVM %ld) did not exit (kind %u, code %d)\n", stage + 1, child, st.kind, st.code);
    return 1;
  }
  return st.code;
}
