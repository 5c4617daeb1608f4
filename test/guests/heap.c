/*
 * heap: a malloc/calloc/realloc/free workout. Thousands of blocks of random sizes
 * (a fixed-seed PRNG, so runs are reproducible), each filled with a pattern derived from
 * its index and checked before it is resized or freed; frees happen in shuffled order;
 * at the end every block is gone and the heap must be whole again (everything returned
 * to the top, the first big block lands where the first block did). Prints "heap ok"
 * and exits 0, or prints the first problem and exits 1.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS 3000
#define ROUNDS 20000

static uint64_t rng = 0x243f6a8885a308d3ULL;
static uint64_t next_rand(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

struct slot {
  unsigned char *p;
  size_t size;
  unsigned tag;
};
static struct slot slots[NSLOTS];

#define CHECK(cond, ...)                   \
  do {                                     \
    if (!(cond)) {                         \
      printf("heap FAIL: " __VA_ARGS__);   \
      printf("\n");                        \
      exit(1);                             \
    }                                      \
  } while (0)

static size_t random_size(void)
{
  uint64_t r = next_rand();
  switch (r % 64) {
  case 0: return r >> 40 & 0x3ffff;                  /* up to 256 KiB (rare: keeps the run short) */
  case 1: case 2: case 3: case 4: case 5: case 6:
    return r >> 40 & 0x3fff;                         /* up to 16 KiB */
  case 7: return 0;                                  /* malloc(0) */
  default: return (r >> 40 & 0x1ff) + 1;             /* small */
  }
}

static unsigned char pattern(unsigned tag, size_t i) { return (unsigned char)(tag * 31 + i * 7); }

static void fill(struct slot *s, size_t from)
{
  for (size_t i = from; i < s->size; i++)
    s->p[i] = pattern(s->tag, i);
}

static void check(struct slot *s, size_t upto, const char *when)
{
  /* Branch-free first pass (the compiler vectorises it), exact report on a mismatch. */
  unsigned char bad = 0;
  for (size_t i = 0; i < upto; i++)
    bad |= (unsigned char)(s->p[i] ^ pattern(s->tag, i));
  if (!bad)
    return;
  for (size_t i = 0; i < upto; i++)
    CHECK(s->p[i] == pattern(s->tag, i), "%s: block %p size %zu byte %zu is %u", when,
          (void *)s->p, s->size, i, s->p[i]);
}

int main(void)
{
  struct pvm_heap_stats st0, st;
  pvm_heap_stats(&st0);
  CHECK(st0.in_use_count == 0, "fresh heap has %llu blocks", (unsigned long long)st0.in_use_count);

  /* The very first block starts at the bottom of the heap. */
  void *first = malloc(100);
  CHECK(first != NULL, "first malloc failed");
  free(first);

  unsigned tag = 1;
  for (int round = 0; round < ROUNDS; round++) {
    struct slot *s = &slots[next_rand() % NSLOTS];
    unsigned op = (unsigned)(next_rand() % 8);
    if (!s->p) {
      s->size = random_size();
      s->tag = tag++;
      if (op == 0) {
        s->p = calloc(1, s->size);
        CHECK(s->p != NULL, "calloc(%zu) failed", s->size);
        for (size_t i = 0; i < s->size; i++)
          CHECK(s->p[i] == 0, "calloc(%zu) byte %zu not zero", s->size, i);
      } else {
        s->p = malloc(s->size);
        CHECK(s->p != NULL, "malloc(%zu) failed", s->size);
      }
      CHECK(((uintptr_t)s->p & 15) == 0, "block %p not 16-byte aligned", (void *)s->p);
      CHECK(malloc_usable_size(s->p) >= s->size, "usable size too small");
      fill(s, 0);
    } else if (op < 3) {
      /* realloc: grow or shrink, contents up to the smaller size kept */
      size_t nsize = random_size();
      check(s, s->size, "before realloc");
      unsigned char *q = realloc(s->p, nsize ? nsize : 1);
      CHECK(q != NULL, "realloc(%zu) failed", nsize);
      s->p = q;
      size_t keep = s->size < nsize ? s->size : nsize;
      size_t old = s->size;
      s->size = nsize;
      check(s, keep, "after realloc");
      fill(s, keep < old ? keep : old);
    } else {
      check(s, s->size, "before free");
      free(s->p);
      s->p = NULL;
    }
  }

  /* Every live block is intact; blocks do not overlap. */
  for (int i = 0; i < NSLOTS; i++)
    if (slots[i].p)
      check(&slots[i], slots[i].size, "final");

  /* Free everything in shuffled order. */
  int order[NSLOTS];
  for (int i = 0; i < NSLOTS; i++)
    order[i] = i;
  for (int i = NSLOTS - 1; i > 0; i--) {
    int j = (int)(next_rand() % (uint64_t)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int i = 0; i < NSLOTS; i++) {
    struct slot *s = &slots[order[i]];
    if (s->p) {
      check(s, s->size, "shuffled free");
      free(s->p);
      s->p = NULL;
    }
  }

  /* The heap is whole again: nothing in use, nothing stranded in bins. */
  pvm_heap_stats(&st);
  CHECK(st.in_use_count == 0 && st.in_use_bytes == 0, "%llu blocks (%llu bytes) still in use",
        (unsigned long long)st.in_use_count, (unsigned long long)st.in_use_bytes);
  CHECK(st.free_bytes == 0, "%llu bytes left in free lists after freeing all",
        (unsigned long long)st.free_bytes);
  CHECK(st.top_bytes == st0.top_bytes, "top is %llu bytes, was %llu",
        (unsigned long long)st.top_bytes, (unsigned long long)st0.top_bytes);

  /* Memory is reusable: a block of most of the high-water size fits at the bottom. */
  size_t big = (size_t)(st.high_water - st.heap_start) / 2 + 1;
  void *b = malloc(big);
  CHECK(b == first, "big block at %p, expected %p", b, first);
  memset(b, 0x5a, big);
  void *c = calloc(big, 1);
  CHECK(c != NULL, "calloc after reuse failed");
  for (size_t i = 0; i < big; i += 997)
    CHECK(((unsigned char *)c)[i] == 0, "calloc over reused memory not zero at %zu", i);
  free(c);
  free(b);

  /* Exhaustion fails cleanly, and the heap still works after. */
  CHECK(malloc(st.heap_end - st.heap_start + 4096) == NULL, "huge malloc did not fail");
  CHECK(calloc((size_t)1 << 40, (size_t)1 << 40) == NULL, "overflowing calloc did not fail");
  void *after = malloc(64);
  CHECK(after == first, "heap not reusable after failure");
  free(after);
  CHECK(realloc(NULL, 10) != NULL, "realloc(NULL) failed");

  printf("heap ok (%d rounds, high water %llu KiB of %llu KiB)\n", ROUNDS,
         (unsigned long long)(st.high_water - st.heap_start) >> 10,
         (unsigned long long)(st.heap_end - st.heap_start) >> 10);
  return 0;
}
