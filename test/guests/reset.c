/*
 * reset: a pVM whose memory the host can write at random and hash, for reset tests and
 * benchmarks. Fills a 4 MiB arena with a pattern, prints "reset: ready", then waits like
 * idle: it serves its fork channel (in a child the host forked) or, in the pVM the host
 * spawned, a channel the host gives it. Requests (text), each answered on the channel:
 *   "hash"            -> "hash <hex>": the arena, the request counter and the heap top
 *   "arena"           -> "arena <hex>": the arena alone
 *   "write <n> <seed>"-> "wrote <n>": n random arena pages filled with random bytes, and
 *                        one fresh heap page written
 *   "pages <n> <first>"-> "wrote <n>": n distinct arena pages from page `first` on (wrapping)
 *                        each written all through
 *   "count"           -> "count <requests served since the start, this one included>"
 *   "rand"            -> "rand <rand()> gen <generation> ent <entropy[0] hex>"
 *   "fork"            -> "forked <id>": a child (no channel) that only waits
 *   "reset"           -> pvm_reset(): no answer on success (it is back at its fork
 *                        point), else "reset failed <error>"
 * Unknown requests are echoed. The end of its channel (EPIPE) ends it with 0; other
 * errors print "reset: <what> failed: <error>" and exit 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_PAGES 1024
#define WORDS_PER_PAGE (4096 / 8)
static uint64_t arena[ARENA_PAGES * WORDS_PER_PAGE] __attribute__((aligned(4096)));
static uint64_t requests;
static char msg[256];

static uint64_t next(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static uint64_t hash_arena(void)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < sizeof arena / 8; i++)
    h = (h ^ arena[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t hash(void)
{
  uint64_t h = hash_arena();
  void *top = malloc(1);
  h = (h ^ (uint64_t)(uintptr_t)top) * 0x100000001b3ull;
  free(top);
  return (h ^ requests) * 0x100000001b3ull;
}

static void check(long r, const char *what)
{
  if (r < 0) {
    printf("reset: %s failed: %s\n", what, pvm_strerror(r));
    exit(1);
  }
}

/* Serve `slot` until it ends: 0 = closed (EPIPE), -PVM_EBADF = not open here. */
static long serve(uint32_t slot)
{
  for (;;) {
    long n = pvm_channel_recv(slot, msg, sizeof msg - 1);
    if (n == -PVM_EPIPE)
      return 0;
    if (n == -PVM_EBADF)
      return n;
    check(n, "recv");
    msg[n] = 0;
    requests++;
    if (strcmp(msg, "hash") == 0) {
      n = snprintf(msg, sizeof msg, "hash %016llx", (unsigned long long)hash());
    } else if (strcmp(msg, "arena") == 0) {
      n = snprintf(msg, sizeof msg, "arena %016llx", (unsigned long long)hash_arena());
    } else if (strncmp(msg, "write ", 6) == 0) {
      char *end;
      unsigned long pages = strtoul(msg + 6, &end, 10);
      uint64_t seed = strtoull(end, 0, 10) | 1;
      for (unsigned long i = 0; i < pages; i++) {
        uint64_t *page = arena + (next(&seed) % ARENA_PAGES) * WORDS_PER_PAGE;
        for (int w = 0; w < WORDS_PER_PAGE; w++)
          page[w] = next(&seed);
      }
      volatile char *fresh = malloc(4096);
      if (fresh)
        fresh[0] = (char)seed;
      n = snprintf(msg, sizeof msg, "wrote %lu", pages);
    } else if (strncmp(msg, "pages ", 6) == 0) {
      char *end;
      unsigned long pages = strtoul(msg + 6, &end, 10);
      unsigned long first = strtoul(end, 0, 10);
      for (unsigned long i = 0; i < pages && i < ARENA_PAGES; i++) {
        uint64_t *page = arena + ((first + i) % ARENA_PAGES) * WORDS_PER_PAGE;
        for (int w = 0; w < WORDS_PER_PAGE; w++)
          page[w] += requests;
      }
      n = snprintf(msg, sizeof msg, "wrote %lu", pages);
    } else if (strcmp(msg, "count") == 0) {
      n = snprintf(msg, sizeof msg, "count %llu", (unsigned long long)requests);
    } else if (strcmp(msg, "rand") == 0) {
      const volatile struct pvm_boot_info *b = pvm_boot_info();
      n = snprintf(msg, sizeof msg, "rand %d gen %llu ent %llx", rand(), (unsigned long long)b->generation,
                   (unsigned long long)b->entropy[0]);
    } else if (strcmp(msg, "fork") == 0) {
      long id = pvm_fork(0);
      check(id, "fork");
      if (id == 0)
        for (;;)
          pvm_wait(0, 0, ~0ULL);
      n = snprintf(msg, sizeof msg, "forked %ld", id);
    } else if (strcmp(msg, "reset") == 0) {
      long r = pvm_reset();
      n = snprintf(msg, sizeof msg, "reset failed %s", pvm_strerror(r));
    }
    long r = pvm_channel_send(slot, msg, (size_t)n);
    if (r == -PVM_EPIPE)
      return 0;
    if (r == -PVM_EBADF)
      return r;
    check(r, "send");
  }
}

int main(void)
{
  for (size_t i = 0; i < sizeof arena / 8; i++)
    arena[i] = i * 0x9e3779b97f4a7c15ull;
  printf("reset: ready\n");
  for (;;) {
    uint32_t slot = pvm_fork_channel();
    if (slot != PVM_CHANNEL_NONE && pvm_channel_is_open(slot)) {
      if (serve(slot) == 0)
        return 0;
      continue;
    }
    uint64_t peer;
    long given = pvm_channel_accept(&peer, 0);
    if (given >= 0) {
      if (serve((uint32_t)given) == 0)
        return 0;
      continue;
    }
    long r = pvm_wait(0, 0, ~0ULL);
    check(r, "wait");
  }
}
