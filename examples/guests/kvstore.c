/*
 * kvstore: the key-value store of examples/snapshot-store.ts, with snapshots by fork.
 *
 * Prints "kvstore: ready", takes the channel the host gives it (pvm_channel_accept) and
 * serves requests on it, one reply per request, in order:
 *   "put <key> <value>"  -> "ok <version>"          (value: any bytes, to the message end)
 *   "get <key>"          -> "ok <value>" | "none"
 *   "del <key>"          -> "ok <version>" | "none"
 *   "count"              -> "ok <keys> <bytes> <version>"
 *   "snapshot"           -> "ok <child id> <version>" | "error <why>"
 * <version> counts the changes made so far. Keys are 1..255 bytes without spaces.
 *
 * "snapshot" forks the store (FORK, no channel). The child is a copy-on-write image of
 * the store as it was at that instant: it takes a channel the host gives it, streams
 * every entry over it and exits, while the parent goes straight back to serving puts.
 * Nothing is locked or copied up front; pages are copied by the CPU's copy-on-write
 * only as the parent writes them.
 *
 * Snapshot stream (little-endian): "PVKV", u32 1, u64 version, u64 count, then count
 * records of u32 key length, u32 value length, key, value; then "END!".
 *
 * When the host closes the channel the store waits for its snapshot children and
 * exits 0.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY 255

struct entry {
  struct entry *next;
  uint64_t hash;
  uint32_t klen, vlen;
  char data[]; /* key, then value */
};

static struct entry **buckets;
static size_t nbuckets, nkeys, nbytes;
static uint64_t version;
static unsigned live_snapshots;

static unsigned char msg[PVM_CHANNEL_MAX_MESSAGE];
static char out[PVM_CHANNEL_MAX_MESSAGE];

static uint64_t hash_of(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

static void grow(void)
{
  size_t n = nbuckets ? nbuckets * 2 : 1024;
  struct entry **b = calloc(n, sizeof *b);
  if (!b)
    return; /* longer chains, still correct */
  for (size_t i = 0; i < nbuckets; i++) {
    for (struct entry *e = buckets[i], *next; e; e = next) {
      next = e->next;
      e->next = b[e->hash & (n - 1)];
      b[e->hash & (n - 1)] = e;
    }
  }
  free(buckets);
  buckets = b;
  nbuckets = n;
}

/* The link that points at the entry for key (or at the NULL ending its chain). */
static struct entry **find(const char *key, size_t klen, uint64_t h)
{
  struct entry **link = &buckets[h & (nbuckets - 1)];
  for (; *link; link = &(*link)->next)
    if ((*link)->hash == h && (*link)->klen == klen && memcmp((*link)->data, key, klen) == 0)
      break;
  return link;
}

static int put(const char *key, size_t klen, const char *value, size_t vlen)
{
  if (nkeys >= nbuckets)
    grow();
  uint64_t h = hash_of(key, klen);
  struct entry **link = find(key, klen, h);
  struct entry *e = malloc(sizeof *e + klen + vlen);
  if (!e)
    return 0;
  e->hash = h;
  e->klen = (uint32_t)klen;
  e->vlen = (uint32_t)vlen;
  memcpy(e->data, key, klen);
  memcpy(e->data + klen, value, vlen);
  struct entry *old = *link;
  e->next = old ? old->next : 0;
  *link = e;
  if (old) {
    nbytes -= old->klen + old->vlen;
    free(old);
  } else {
    nkeys++;
  }
  nbytes += klen + vlen;
  version++;
  return 1;
}

static int del(const char *key, size_t klen)
{
  struct entry **link = find(key, klen, hash_of(key, klen));
  struct entry *e = *link;
  if (!e)
    return 0;
  *link = e->next;
  nkeys--;
  nbytes -= e->klen + e->vlen;
  free(e);
  version++;
  return 1;
}

/* ---- the snapshot child ------------------------------------------------------------ */

static size_t fill;

static void emit(uint32_t slot, const void *p, size_t n)
{
  const unsigned char *b = p;
  while (n) {
    size_t room = sizeof out - fill;
    size_t k = n < room ? n : room;
    memcpy(out + fill, b, k);
    fill += k;
    b += k;
    n -= k;
    if (fill == sizeof out) {
      long r = pvm_channel_send(slot, out, fill);
      if (r < 0) {
        printf("kvstore: snapshot send failed: %s\n", pvm_strerror(r));
        exit(1);
      }
      fill = 0;
    }
  }
}

static int write_snapshot(void)
{
  uint64_t peer;
  long slot = pvm_channel_accept(&peer, 30ULL * 1000000000ULL);
  if (slot < 0) {
    printf("kvstore: snapshot %lu got no channel: %s\n", (unsigned long)pvm_id(), pvm_strerror(slot));
    return 3;
  }
  uint32_t head[2] = {0x564b5650 /* "PVKV" */, 1};
  uint64_t counts[2] = {version, nkeys};
  emit((uint32_t)slot, head, sizeof head);
  emit((uint32_t)slot, counts, sizeof counts);
  for (size_t i = 0; i < nbuckets; i++) {
    for (struct entry *e = buckets[i]; e; e = e->next) {
      uint32_t lens[2] = {e->klen, e->vlen};
      emit((uint32_t)slot, lens, sizeof lens);
      emit((uint32_t)slot, e->data, e->klen + e->vlen);
    }
  }
  emit((uint32_t)slot, "END!", 4);
  if (fill) {
    long r = pvm_channel_send((uint32_t)slot, out, fill);
    if (r < 0) {
      printf("kvstore: snapshot send failed: %s\n", pvm_strerror(r));
      return 1;
    }
  }
  pvm_channel_close((uint32_t)slot); /* end of stream: the host has everything */
  return 0;
}

/* ---- the store ------------------------------------------------------------------------- */

static void reap(uint64_t timeout_ns)
{
  while (live_snapshots) {
    struct pvm_child_status st;
    long id = pvm_waitpid(0, &st, timeout_ns);
    if (id == -PVM_EINTR) {
      pvm_signals();
      continue;
    }
    if (id <= 0)
      return;
    live_snapshots--;
    if (st.kind != PVM_WAIT_EXIT || st.code != 0)
      printf("kvstore: snapshot %ld failed (kind %u, code %d)\n", id, st.kind, st.code);
  }
}

/* Splits "<key> <rest>" / "<key>": the key's length, 0 if it is not a valid key. */
static size_t key_of(const char *s, size_t n, const char **rest, size_t *rest_len)
{
  const char *sp = memchr(s, ' ', n);
  size_t klen = sp ? (size_t)(sp - s) : n;
  *rest = sp ? sp + 1 : s + n;
  *rest_len = n - klen - (sp ? 1 : 0);
  return klen >= 1 && klen <= MAX_KEY ? klen : 0;
}

static size_t reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static size_t reply(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, sizeof out, fmt, ap);
  va_end(ap);
  return n < 0 ? 0 : (size_t)n < sizeof out ? (size_t)n : sizeof out - 1;
}

/* Serves one request; returns the reply length, or -1 to exit as the snapshot child. */
static long serve(size_t n)
{
  const char *m = (const char *)msg, *rest;
  size_t rest_len, klen;
  if (n > 4 && memcmp(m, "put ", 4) == 0) {
    const char *value;
    size_t vlen;
    if (!(klen = key_of(m + 4, n - 4, &value, &vlen)) || klen == n - 4)
      return (long)reply("error bad key"); /* no key, or no space before the value */
    if (!put(m + 4, klen, value, vlen))
      return (long)reply("error out of memory");
    return (long)reply("ok %llu", (unsigned long long)version);
  }
  if (n > 4 && memcmp(m, "get ", 4) == 0) {
    if (!(klen = key_of(m + 4, n - 4, &rest, &rest_len)) || rest_len)
      return (long)reply("error bad key");
    struct entry *e = *find(m + 4, klen, hash_of(m + 4, klen));
    if (!e)
      return (long)reply("none");
    memcpy(out, "ok ", 3);
    memcpy(out + 3, e->data + e->klen, e->vlen); /* a value fits: it came in a put */
    return 3 + (long)e->vlen;
  }
  if (n > 4 && memcmp(m, "del ", 4) == 0) {
    if (!(klen = key_of(m + 4, n - 4, &rest, &rest_len)) || rest_len)
      return (long)reply("error bad key");
    return del(m + 4, klen) ? (long)reply("ok %llu", (unsigned long long)version) : (long)reply("none");
  }
  if (n == 5 && memcmp(m, "count", 5) == 0)
    return (long)reply("ok %zu %zu %llu", nkeys, nbytes, (unsigned long long)version);
  if (n == 8 && memcmp(m, "snapshot", 8) == 0) {
    long child = pvm_fork(0);
    if (child == 0)
      return -1;
    if (child < 0)
      return (long)reply("error fork: %s", pvm_strerror(child));
    live_snapshots++;
    return (long)reply("ok %ld %llu", child, (unsigned long long)version);
  }
  return (long)reply("error unknown request");
}

int main(void)
{
  grow();
  printf("kvstore: ready\n");
  pvm_console_flush();
  long slot = pvm_channel_accept(0, ~0ULL);
  if (slot < 0) {
    printf("kvstore: accept failed: %s\n", pvm_strerror(slot));
    return 1;
  }
  for (;;) {
    long n = pvm_channel_recv((uint32_t)slot, msg, sizeof msg);
    if (n == -PVM_EINTR) {
      pvm_signals();
      continue;
    }
    if (n == -PVM_EPIPE)
      break; /* the host is done with us */
    if (n < 0) {
      printf("kvstore: recv failed: %s\n", pvm_strerror(n));
      return 1;
    }
    long len = serve((size_t)n);
    if (len < 0)
      return write_snapshot(); /* the forked copy: it has no channel to the host yet */
    long r = pvm_channel_send((uint32_t)slot, out, (size_t)len);
    if (r == -PVM_EPIPE)
      break;
    if (r < 0) {
      printf("kvstore: send failed: %s\n", pvm_strerror(r));
      return 1;
    }
    if (live_snapshots)
      reap(0);
  }
  reap(~0ULL);
  printf("kvstore: %zu keys, %zu bytes, version %llu\n", nkeys, nbytes, (unsigned long long)version);
  return 0;
}
