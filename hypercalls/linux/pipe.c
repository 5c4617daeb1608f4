/*
 * A Linux pipe is a shared region (SHM_CREATE) made at pipe(): a header page, then a
 * 64 KiB byte ring. Every pVM forked afterwards maps it at the same slot, so the pipe
 * works across fork in parent and child alike, whichever of them reads or writes (a
 * shell's two children, siblings, included). exec keeps regions, so it survives exec.
 *
 * The header counts, per pVM, the read and write ends its fd table holds: EOF when no
 * writer is left anywhere, EPIPE when no reader is. A pVM that ends by exit closes its
 * ends; one that was killed or faulted cannot, so its parent drops them when wait4 reaps
 * it (pipe_forget). One lock (a spinlock in the region) guards header and ring: any pVM
 * of the family may hold either end, so there is no single producer or consumer.
 */
#include "linux.h"
#include "pipe.h"

#define PIPE_MAGIC 0x65706970u  /* "pipe" */
#define RING 65536u
#define HEADER 4096u
#define HOLDERS 200

struct holder { uint64_t id; uint32_t readers, writers; };
struct pipe_header {
  uint32_t magic, lock;
  uint32_t head, tail;  /* bytes consumed, bytes written (free-running) */
  struct holder holders[HOLDERS];
};
_Static_assert(sizeof(struct pipe_header) <= HEADER, "the header fits its page");

static struct pipe_header *hdr(uint32_t slot) { return pvm_channel_base(slot); }
static uint8_t *ring(uint32_t slot) { return (uint8_t *)pvm_channel_base(slot) + HEADER; }

static void lock(struct pipe_header *h)
{
  struct linux_backoff b = {0, 0};
  while (__atomic_exchange_n(&h->lock, 1, __ATOMIC_ACQUIRE))
    linux_backoff_wait(&b);  /* the holder may be a pVM the host preempted */
}

static void unlock(struct pipe_header *h) { __atomic_store_n(&h->lock, 0, __ATOMIC_RELEASE); }

long pipe_create(void)
{
  long slot = pvm_hypercall1(PVM_HC_SHM_CREATE, HEADER + RING);
  if (slot < 0)
    return slot == -PVM_EAGAIN ? -L_EMFILE : -L_ENOMEM;
  struct pipe_header *h = hdr((uint32_t)slot);
  h->holders[0] = (struct holder){linux_boot->id, 1, 1};
  __atomic_store_n(&h->magic, PIPE_MAGIC, __ATOMIC_RELEASE);
  return slot;
}

int pipe_is_pipe(uint32_t slot)
{
  const volatile struct pvm_channel_entry *e = pvm_channel_table_entry(slot);
  return e && e->state == PVM_CHANNEL_STATE_SHM && __atomic_load_n(&hdr(slot)->magic, __ATOMIC_ACQUIRE) == PIPE_MAGIC;
}

/* The holder entry of `id` (made if missing and `make`), or 0. Under the lock. */
static struct holder *holder(struct pipe_header *h, uint64_t id, int make)
{
  struct holder *free = 0;
  for (unsigned i = 0; i < HOLDERS; i++) {
    if (h->holders[i].id == id)
      return &h->holders[i];
    if (!free && h->holders[i].id == 0)
      free = &h->holders[i];
  }
  if (make && free)
    *free = (struct holder){id, 0, 0};
  return make ? free : 0;
}

static void release_empty(struct holder *x)
{
  if (x && x->readers == 0 && x->writers == 0)
    x->id = 0;
}

void pipe_ref(uint32_t slot, uint64_t id, int readers, int writers)
{
  struct pipe_header *h = hdr(slot);
  lock(h);
  struct holder *x = holder(h, id, 1);
  if (x) {
    /* Never below 0: a row its parent dropped (pipe_forget) before a child took its ends. */
    x->readers = readers < 0 && x->readers < (uint32_t)-readers ? 0 : x->readers + (uint32_t)readers;
    x->writers = writers < 0 && x->writers < (uint32_t)-writers ? 0 : x->writers + (uint32_t)writers;
    release_empty(x);
  }
  unlock(h);
}

void pipe_move_refs(uint32_t slot, uint64_t from, uint64_t to, int readers, int writers)
{
  struct pipe_header *h = hdr(slot);
  lock(h);
  struct holder *src = holder(h, from, 0), *dst = holder(h, to, 1);
  if (src && dst && src->readers >= (uint32_t)readers && src->writers >= (uint32_t)writers) {
    src->readers -= (uint32_t)readers;
    src->writers -= (uint32_t)writers;
    dst->readers += (uint32_t)readers;
    dst->writers += (uint32_t)writers;
    release_empty(src);
  }
  release_empty(dst);  /* no room to move: the ends stay counted as the parent's */
  unlock(h);
}

void pipe_forget(uint32_t slot, uint64_t id)
{
  struct pipe_header *h = hdr(slot);
  lock(h);
  struct holder *x = holder(h, id, 0);
  if (x)
    x->id = x->readers = x->writers = 0;
  unlock(h);
}

/* Ends held anywhere (under the lock). */
static uint32_t count(struct pipe_header *h, int writers)
{
  uint32_t n = 0;
  for (unsigned i = 0; i < HOLDERS; i++)
    if (h->holders[i].id)
      n += writers ? h->holders[i].writers : h->holders[i].readers;
  return n;
}

long pipe_read(uint32_t slot, void *buf, uint64_t len, int nonblock)
{
  if (len == 0)
    return 0;
  struct pipe_header *h = hdr(slot);
  struct linux_backoff b = {0, 0};
  for (;;) {
    lock(h);
    uint32_t avail = h->tail - h->head;
    if (avail) {
      uint32_t n = avail < len ? avail : (uint32_t)len;
      uint32_t off = h->head % RING, first = RING - off < n ? RING - off : n;
      memcpy(buf, ring(slot) + off, first);
      memcpy((uint8_t *)buf + first, ring(slot), n - first);
      h->head += n;
      unlock(h);
      return n;
    }
    uint32_t writers = count(h, 1);
    unlock(h);
    if (writers == 0)
      return 0;
    if (nonblock)
      return -L_EAGAIN;
    if (linux_signal_interrupts())
      return -L_EINTR;
    linux_backoff_wait(&b);
  }
}

long pipe_write(uint32_t slot, const void *buf, uint64_t len, int nonblock)
{
  struct pipe_header *h = hdr(slot);
  struct linux_backoff b = {0, 0};
  uint64_t done = 0;
  while (done < len || len == 0) {
    lock(h);
    if (count(h, 0) == 0) {
      unlock(h);
      return done ? (long)done : -L_EPIPE;
    }
    if (len == 0) {
      unlock(h);
      return 0;
    }
    uint32_t room = RING - (h->tail - h->head);
    uint64_t left = len - done;
    /* Up to PIPE_BUF bytes go in at once or not at all (POSIX), more may be split. */
    if (room > 0 && (left > PIPE_BUF_L || room >= left)) {
      uint32_t n = room < left ? room : (uint32_t)left;
      uint32_t off = h->tail % RING, first = RING - off < n ? RING - off : n;
      memcpy(ring(slot) + off, (const uint8_t *)buf + done, first);
      memcpy(ring(slot), (const uint8_t *)buf + done + first, n - first);
      h->tail += n;
      done += n;
      unlock(h);
      b.spins = 0, b.sleep_ns = 0;  /* progress: the reader is there */
      continue;
    }
    unlock(h);
    if (nonblock)
      return done ? (long)done : -L_EAGAIN;
    if (linux_signal_interrupts())
      return done ? (long)done : -L_EINTR;
    linux_backoff_wait(&b);
  }
  return (long)done;
}

int pipe_readable(uint32_t slot)
{
  struct pipe_header *h = hdr(slot);
  lock(h);
  int r = h->tail != h->head ? 1 : count(h, 1) == 0 ? 2 : 0;
  unlock(h);
  return r;
}

int pipe_writable(uint32_t slot)
{
  struct pipe_header *h = hdr(slot);
  lock(h);
  int r = RING - (h->tail - h->head) >= PIPE_BUF_L || count(h, 0) == 0;
  unlock(h);
  return r;
}

int pipe_no_readers(uint32_t slot)
{
  struct pipe_header *h = hdr(slot);
  lock(h);
  int r = count(h, 0) == 0;
  unlock(h);
  return r;
}
