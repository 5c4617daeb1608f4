/*
 * malloc/free/calloc/realloc over the heap [boot_info->heap_start, heap_end).
 *
 * Boundary-tag allocator:
 *  - every block starts with an 8-byte header: size | INUSE | PREV_INUSE; sizes are
 *    multiples of 16 and blocks sit at 8 mod 16, so payloads are 16-byte aligned;
 *  - a free block also keeps list links after its header and its size in its last
 *    8 bytes (footer), so freeing coalesces with both neighbours in O(1);
 *  - free blocks live in size-class bins (exact classes below 1 KiB, four per power of
 *    two above) with a bitmap of non-empty bins;
 *  - above the last block is the "top": memory never handed out (or given back by
 *    freeing the last block). New blocks are carved from it only when no free block
 *    fits, so untouched RAM stays untouched: every first touch of a page costs an exit-
 *    like shadow-paging fault on kvm_pvm hosts, and untouched pages are also what keeps
 *    a forked pVM cheap. RAM above the high-water mark is still the monitor's zeroes,
 *    which calloc() relies on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define HDR 8
#define ALIGN 16
#define MIN_BLOCK 32
#define INUSE 1ULL
#define PREV_INUSE 2ULL
#define SIZE_MASK (~(uint64_t)(ALIGN - 1))

#define SMALL_LIMIT 1024   /* exact bins below this block size */
#define NBINS (64 + 54 * 4)

struct block {
  uint64_t head;       /* size | flags */
  struct block *next;  /* free blocks only */
  struct block *prev;
};

static char *heap_lo, *heap_hi, *top, *high_water;
static struct block *bins[NBINS];
static uint64_t binmap[(NBINS + 63) / 64];
static uint64_t in_use_bytes, in_use_count, free_bytes;

static inline uint64_t bsize(const struct block *b) { return b->head & SIZE_MASK; }
static inline struct block *at(void *p) { return (struct block *)p; }
static inline struct block *next_of(struct block *b) { return at((char *)b + bsize(b)); }
static inline void set_footer(struct block *b)
{
  *(uint64_t *)((char *)b + bsize(b) - 8) = bsize(b);
}

static unsigned bin_index(uint64_t size)
{
  if (size < SMALL_LIMIT)
    return (unsigned)(size / ALIGN);
  unsigned lg = 63 - (unsigned)__builtin_clzll(size); /* >= 10 */
  return 64 + (lg - 10) * 4 + (unsigned)((size >> (lg - 2)) & 3);
}

static void bin_insert(struct block *b)
{
  unsigned i = bin_index(bsize(b));
  b->prev = 0;
  b->next = bins[i];
  if (b->next)
    b->next->prev = b;
  bins[i] = b;
  binmap[i / 64] |= 1ULL << (i % 64);
  free_bytes += bsize(b);
}

static void bin_remove(struct block *b)
{
  unsigned i = bin_index(bsize(b));
  if (b->prev)
    b->prev->next = b->next;
  else
    bins[i] = b->next;
  if (b->next)
    b->next->prev = b->prev;
  if (!bins[i])
    binmap[i / 64] &= ~(1ULL << (i % 64));
  free_bytes -= bsize(b);
}

/* First non-empty bin with index >= i, or NBINS. */
static unsigned next_bin(unsigned i)
{
  while (i < NBINS) {
    uint64_t word = binmap[i / 64] >> (i % 64);
    if (word)
      return i + (unsigned)__builtin_ctzll(word);
    i = (i / 64 + 1) * 64;
  }
  return NBINS;
}

void __pvm_heap_init(uint64_t start, uint64_t end)
{
  /* Blocks at 8 mod 16 so that payloads are 16-byte aligned. */
  uint64_t lo = ((start + HDR + ALIGN - 1) & SIZE_MASK) - HDR;
  uint64_t hi = end & SIZE_MASK;
  if (start == 0 || hi <= lo + MIN_BLOCK)
    lo = hi = 0; /* no heap: malloc() returns NULL */
  heap_lo = top = high_water = (char *)(uintptr_t)lo;
  heap_hi = (char *)(uintptr_t)hi;
}

/* Block size for a request of n bytes, 0 if impossible. */
static uint64_t request_size(size_t n)
{
  if (n > ((uint64_t)1 << 62))
    return 0;
  uint64_t s = (n + HDR + ALIGN - 1) & SIZE_MASK;
  return s < MIN_BLOCK ? MIN_BLOCK : s;
}

/* Mark the next block's PREV_INUSE (the top has no header to mark). */
static void set_next_prev_inuse(struct block *b, int inuse)
{
  struct block *n = next_of(b);
  if ((char *)n == top)
    return;
  if (inuse)
    n->head |= PREV_INUSE;
  else
    n->head &= ~PREV_INUSE;
}

/*
 * Give the free space [b, b + size) back: merge it with a free neighbour on either side
 * and with the top, then bin it. `b`'s PREV_INUSE bit must be valid.
 */
static void release(struct block *b, uint64_t size)
{
  if (!(b->head & PREV_INUSE)) {
    uint64_t psize = *(uint64_t *)((char *)b - 8);
    struct block *prev = at((char *)b - psize);
    bin_remove(prev);
    b = prev;
    size += psize;
  }
  /* The block before a coalesced block is always in use. */
  char *end = (char *)b + size;
  if (end == top) {
    top = (char *)b;
    return;
  }
  struct block *n = at(end);
  if (!(n->head & INUSE)) {
    bin_remove(n);
    size += bsize(n);
  } else {
    n->head &= ~PREV_INUSE;
  }
  b->head = size | PREV_INUSE;
  set_footer(b);
  bin_insert(b);
}

/* Cut `b` (in use, at least `size`) down to `size`, releasing the tail if big enough. */
static void trim(struct block *b, uint64_t size)
{
  uint64_t have = bsize(b);
  if (have - size < MIN_BLOCK)
    return;
  b->head = size | (b->head & ~SIZE_MASK);
  struct block *rest = at((char *)b + size);
  rest->head = (have - size) | PREV_INUSE;
  in_use_bytes -= have - size;
  release(rest, have - size);
}

static void *allocate(uint64_t size)
{
  unsigned i = bin_index(size);
  struct block *b = 0;

  if (i >= 64) { /* large bins hold a range of sizes: first fit in our own bin */
    for (struct block *c = bins[i]; c; c = c->next)
      if (bsize(c) >= size) {
        b = c;
        break;
      }
    if (!b)
      i++;
  }
  if (!b) {
    /* Every block in a higher bin is big enough. */
    unsigned j = next_bin(i);
    if (j < NBINS)
      b = bins[j];
  }
  if (b) {
    bin_remove(b);
    b->head |= INUSE;
    set_next_prev_inuse(b, 1);
    in_use_bytes += bsize(b);
    in_use_count++;
    trim(b, size);
    return (char *)b + HDR;
  }

  /* Carve from the top. The block below the top is always in use. */
  if ((uint64_t)(heap_hi - top) < size) {
    errno = ENOMEM;
    return 0;
  }
  b = at(top);
  b->head = size | INUSE | PREV_INUSE;
  top += size;
  if (top > high_water)
    high_water = top;
  in_use_bytes += size;
  in_use_count++;
  return (char *)b + HDR;
}

void *malloc(size_t n)
{
  uint64_t size = request_size(n);
  if (!size) {
    errno = ENOMEM;
    return 0;
  }
  return allocate(size);
}

static struct block *checked_block(void *p, const char *who)
{
  struct block *b = at((char *)p - HDR);
  if ((char *)b < heap_lo || (char *)b >= top || ((uintptr_t)p & (ALIGN - 1)) ||
      !(b->head & INUSE) || bsize(b) < MIN_BLOCK || (char *)b + bsize(b) > top)
    __pvm_panic(who);
  return b;
}

void free(void *p)
{
  if (!p)
    return;
  struct block *b = checked_block(p, "free(): invalid pointer or double free");
  uint64_t size = bsize(b);
  in_use_bytes -= size;
  in_use_count--;
  b->head &= ~INUSE;
  release(b, size);
}

void *calloc(size_t n, size_t size)
{
  if (size && n > (size_t)-1 / size) {
    errno = ENOMEM;
    return 0;
  }
  size_t total = n * size;
  char *old_high = high_water;
  char *p = malloc(total);
  /* RAM at or above the old high-water mark was never written: still zero. */
  if (p && p < old_high) {
    size_t dirty = (size_t)(old_high - p);
    memset(p, 0, dirty < total ? dirty : total);
  }
  return p;
}

void *realloc(void *p, size_t n)
{
  if (!p)
    return malloc(n);
  if (n == 0) {
    free(p);
    return 0;
  }
  struct block *b = checked_block(p, "realloc(): invalid pointer");
  uint64_t want = request_size(n);
  if (!want) {
    errno = ENOMEM;
    return 0;
  }
  uint64_t have = bsize(b);
  if (want <= have) {
    trim(b, want);
    return p;
  }
  char *end = (char *)b + have;
  if (end == top) { /* grow into the top */
    if ((uint64_t)(heap_hi - (char *)b) >= want) {
      b->head = want | (b->head & ~SIZE_MASK);
      top = (char *)b + want;
      if (top > high_water)
        high_water = top;
      in_use_bytes += want - have;
      return p;
    }
  } else {
    struct block *nb = at(end);
    if (!(nb->head & INUSE) && have + bsize(nb) >= want) { /* absorb the free neighbour */
      uint64_t nsize = bsize(nb);
      bin_remove(nb);
      b->head = (have + nsize) | (b->head & ~SIZE_MASK);
      set_next_prev_inuse(b, 1);
      in_use_bytes += nsize;
      trim(b, want);
      return p;
    }
  }
  void *q = malloc(n);
  if (!q)
    return 0;
  memcpy(q, p, have - HDR);
  free(p);
  return q;
}

size_t malloc_usable_size(void *p)
{
  if (!p)
    return 0;
  return bsize(checked_block(p, "malloc_usable_size(): invalid pointer")) - HDR;
}

void pvm_heap_stats(struct pvm_heap_stats *st)
{
  st->heap_start = (uintptr_t)heap_lo;
  st->heap_end = (uintptr_t)heap_hi;
  st->in_use_bytes = in_use_bytes;
  st->in_use_count = in_use_count;
  st->free_bytes = free_bytes;
  st->top_bytes = (uint64_t)(heap_hi - top);
  st->high_water = (uintptr_t)high_water;
}
