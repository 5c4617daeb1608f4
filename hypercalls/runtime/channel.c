/*
 * Channels: message rings in memory shared with the other end (a pVM or the host).
 *
 * The protocol is abi.json "channel", exactly (the other end may be JavaScript using
 * Atomics on the same memory, so nothing else may be assumed):
 *   - slot s is mapped at channel_window + s * SLOT_SIZE; its table entry (boot info,
 *     written by the monitor) says whether it is open and which side this end is;
 *   - ring 0 carries A -> B, ring 1 B -> A; ring r's control block is at
 *     base + r * CONTROL_STRIDE (u32 counters at TAIL, PRODUCER_CLOSED, ...), its data
 *     at base + HEADER_SIZE + r * RING_SIZE;
 *   - tail/head are free-running u32 byte counters (RING_SIZE is a power of two);
 *   - a record is a u32 length, the bytes, zero padding to 4, wrapping byte-wise;
 *   - producer: write the record, store tail (release), full fence, NOTIFY if
 *     consumer_waiting; consumer: load tail (acquire), copy, store head (release),
 *     full fence, NOTIFY if producer_waiting;
 *   - before sleeping: set the own waiting flag, full fence, re-check, WAIT; clear the
 *     flag afterwards.
 * Exits cost ~25-40 µs, so a blocking call first polls the ring pvm_channel_spin times,
 * plus an adaptive number of polls (below, up to pvm_channel_spin_max) while wake-ups
 * have been coming soon after it gave up.
 */
#include <string.h>
#include "internal.h"

_Static_assert((PVM_CHANNEL_RING_SIZE & (PVM_CHANNEL_RING_SIZE - 1)) == 0,
               "RING_SIZE must be a power of two");
_Static_assert(PVM_CHANNEL_MAX_MESSAGE + 8 <= PVM_CHANNEL_RING_SIZE, "MAX_MESSAGE fits the ring");

unsigned pvm_channel_spin = PVM_CHANNEL_SPIN;
unsigned pvm_channel_spin_max = PVM_CHANNEL_SPIN_MAX;

#define RING_MASK ((uint32_t)PVM_CHANNEL_RING_SIZE - 1)
#define NO_LIMIT (~(uint64_t)0)

/* One ring as seen from this end. */
struct ring {
  uint32_t *ctl;      /* control block: ctl[OFFSET / 4] */
  unsigned char *data;
};

#define CTL(r, field) ((r)->ctl + PVM_CHANNEL_##field / 4)

/* The two rings of an open slot: tx is the one this end produces into. */
struct chan {
  struct ring tx, rx;
};

/* Look up `slot`: -PVM_EBADF unless it is open. Reads the table every time: the monitor
 * may close a slot under us (or a fork the host asks for may leave the copy without it). */
static int chan_get(uint32_t slot, struct chan *c)
{
  const volatile struct pvm_channel_entry *e = pvm_channel_table_entry(slot);
  if (!e || e->state != PVM_CHANNEL_STATE_OPEN)
    return -PVM_EBADF;
  uint32_t side = e->side;
  if (side != PVM_CHANNEL_SIDE_A && side != PVM_CHANNEL_SIDE_B)
    return -PVM_EBADF;
  unsigned char *base = pvm_channel_base(slot);
  unsigned tx = side == PVM_CHANNEL_SIDE_A ? 0 : 1; /* A sends on ring 0, B on ring 1 */
  unsigned rx = 1 - tx;
  c->tx.ctl = (uint32_t *)(base + tx * PVM_CHANNEL_CONTROL_STRIDE);
  c->tx.data = base + PVM_CHANNEL_HEADER_SIZE + tx * PVM_CHANNEL_RING_SIZE;
  c->rx.ctl = (uint32_t *)(base + rx * PVM_CHANNEL_CONTROL_STRIDE);
  c->rx.data = base + PVM_CHANNEL_HEADER_SIZE + rx * PVM_CHANNEL_RING_SIZE;
  return 0;
}

static inline uint32_t load_acquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline uint32_t load_relaxed(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void store_relaxed(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void full_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void cpu_relax(void) { __builtin_ia32_pause(); }

/* Copy into / out of ring data at byte counter `pos`, wrapping around the end. */
static void ring_put(unsigned char *data, uint32_t pos, const void *src, uint32_t n)
{
  uint32_t off = pos & RING_MASK;
  uint32_t first = (uint32_t)PVM_CHANNEL_RING_SIZE - off;
  if (first > n)
    first = n;
  memcpy(data + off, src, first);
  if (n > first)
    memcpy(data, (const unsigned char *)src + first, n - first);
}

static void ring_get(const unsigned char *data, uint32_t pos, void *dst, uint32_t n)
{
  uint32_t off = pos & RING_MASK;
  uint32_t first = (uint32_t)PVM_CHANNEL_RING_SIZE - off;
  if (first > n)
    first = n;
  memcpy(dst, data + off, first);
  if (n > first)
    memcpy((unsigned char *)dst + first, data, n - first);
}

static inline uint32_t record_size(uint32_t len) { return 4 + ((len + 3) & ~(uint32_t)3); }

/* ---- non-blocking operations ------------------------------------------------------- */

int pvm_channel_try_send(uint32_t slot, const void *buf, size_t len)
{
  struct chan c;
  int err = chan_get(slot, &c);
  if (err)
    return err;
  if (len > PVM_CHANNEL_MAX_MESSAGE)
    return -PVM_EMSGSIZE;
  struct ring *r = &c.tx;
  if (load_acquire(CTL(r, CONSUMER_CLOSED)))
    return -PVM_EPIPE;
  uint32_t tail = load_relaxed(CTL(r, TAIL)); /* ours: only this end writes it */
  uint32_t head = load_acquire(CTL(r, HEAD)); /* the consumer's; acquire: its copy is done */
  uint32_t used = tail - head;
  if (used > PVM_CHANNEL_RING_SIZE)
    return -PVM_EINVAL; /* the counters make no sense: the other end broke the protocol */
  uint32_t n = (uint32_t)len;
  uint32_t rec = record_size(n);
  if (rec > PVM_CHANNEL_RING_SIZE - used)
    return -PVM_EAGAIN;
  static const unsigned char zeros[4];
  ring_put(r->data, tail, &n, 4);
  ring_put(r->data, tail + 4, buf, n);
  if (rec - 4 > n)
    ring_put(r->data, tail + 4 + n, zeros, rec - 4 - n);
  store_release(CTL(r, TAIL), tail + rec);
  full_fence(); /* tail visible before we look at consumer_waiting (pairs with its fence) */
  if (load_relaxed(CTL(r, CONSUMER_WAITING)))
    pvm_notify(slot);
  return 0;
}

long pvm_channel_try_recv(uint32_t slot, void *buf, size_t cap)
{
  struct chan c;
  int err = chan_get(slot, &c);
  if (err)
    return err;
  struct ring *r = &c.rx;
  uint32_t head = load_relaxed(CTL(r, HEAD)); /* ours */
  uint32_t tail = load_acquire(CTL(r, TAIL));
  if (tail == head) {
    /* Empty. Closed only counts once everything sent before the close is consumed:
     * read the flag first, then look at tail again. */
    if (!load_acquire(CTL(r, PRODUCER_CLOSED)))
      return -PVM_EAGAIN;
    tail = load_acquire(CTL(r, TAIL));
    if (tail == head)
      return -PVM_EPIPE;
  }
  uint32_t avail = tail - head;
  if (avail < 4 || avail > PVM_CHANNEL_RING_SIZE)
    return -PVM_EINVAL;
  uint32_t n;
  ring_get(r->data, head, &n, 4);
  uint32_t rec = record_size(n);
  if (n > PVM_CHANNEL_MAX_MESSAGE || rec > avail)
    return -PVM_EINVAL;
  if (n > cap)
    return -PVM_EMSGSIZE; /* the message stays in the ring */
  ring_get(r->data, head + 4, buf, n);
  store_release(CTL(r, HEAD), head + rec);
  full_fence(); /* head visible before we look at producer_waiting */
  if (load_relaxed(CTL(r, PRODUCER_WAITING)))
    pvm_notify(slot);
  return n;
}

/* Is there something to receive on `slot` (a message, or the end of the channel)?
 * 1 yes, 0 no, or -PVM_EBADF. */
static int rx_ready(uint32_t slot)
{
  struct chan c;
  int err = chan_get(slot, &c);
  if (err)
    return err;
  struct ring *r = &c.rx;
  if (load_acquire(CTL(r, TAIL)) != load_relaxed(CTL(r, HEAD)))
    return 1;
  return load_acquire(CTL(r, PRODUCER_CLOSED)) != 0;
}

/* ---- blocking ------------------------------------------------------------------------
 * block() runs `attempt` until it returns something other than -PVM_EAGAIN: first a
 * short poll, then sleeps in WAIT on `slots`, with this end's waiting flag(s) set
 * around each sleep (set, fence, re-check, WAIT, clear).
 */
struct blocker {
  long (*attempt)(struct blocker *b);
  void (*set_waiting)(struct blocker *b, uint32_t v);
  const uint32_t *slots;
  uint32_t count;
  /* the operation's arguments */
  void *buf;
  size_t len;
};

/* Handled signals that arrived while this call polled (the monitor posts them in the
 * boot-info page at its next exit, no WAIT needed) run now, not only once it sleeps: a
 * message that came with them must not let the call return with them still unrun. A
 * signal without a handler is left pending: the next WAIT returns -PVM_EINTR at once. */
static void run_handled_signals(void)
{
  if (pvm_pending_signals())
    (void)pvm_restart_after_eintr();
}

static long block_until_done(struct blocker *b, uint64_t timeout_ns, unsigned spin);

static long block(struct blocker *b, uint64_t timeout_ns, unsigned spin)
{
  run_handled_signals();
  long r = block_until_done(b, timeout_ns, spin);
  run_handled_signals(); /* posted while the call completed (e.g. at the WAIT's return) */
  return r;
}

/* ---- adaptive spin --------------------------------------------------------------------
 * Sleeping costs two exits and a wake-up (~100 µs on kvm_pvm) where the other end
 * answers within tens of µs (a reply to a request, a signal's answer). So after a call
 * slept and the wake-up came soon after its spin gave up, the next call polls that much
 * longer (plus a quarter), up to pvm_channel_spin_max polls in all (a later wake-up gets
 * no extra spin). A longer spin that runs out anyway (the peer was slower, or needed the
 * CPU this spin held: on a busy host the two may share one) drops the extra and stops
 * learning for the next 1, 2, 4 ... 64 sleeps, so a peer that cannot answer during a
 * spin soon costs only the fixed spin again, and an idle guest sleeps. Time is
 * measured in TSC ticks (rdtsc: no exit) and turned into polls with what the poll loop
 * itself took, so no clock rate is needed. spin 0 (the caller asked never to spin)
 * does not spin here either. One estimate for the whole pVM: its blocking calls are one
 * thread of control. */
static unsigned spin_extra;   /* polls beyond the fixed spin the next call makes */
static unsigned spin_backoff; /* sleeps left to not learn from */
static unsigned spin_backoff_len;

#define SPIN_BACKOFF_MAX 64

static inline uint64_t tsc(void)
{
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

/* A call with fixed spin `spin` polled `polls` times in [t0, t1), slept and got its
 * result at `t2`. */
static void learn_from_sleep(unsigned spin, unsigned polls, uint64_t t0, uint64_t t1, uint64_t t2)
{
  if (spin_backoff) {
    spin_backoff--;
    return;
  }
  if (polls == 0 || t1 <= t0 || t2 <= t1)
    return;
  uint64_t per_poll = (t1 - t0) / polls;
  if (per_poll == 0)
    per_poll = 1;
  uint64_t more = (t2 - t1) / per_poll;
  uint64_t want = polls + more + more / 4;
  /* A wake-up past the bound is not "soon": sleep at once next time. */
  spin_extra = want <= pvm_channel_spin_max && want > spin ? (unsigned)(want - spin) : 0;
}

static long block_until_done(struct blocker *b, uint64_t timeout_ns, unsigned spin)
{
  long r = b->attempt(b);
  if (r != -PVM_EAGAIN)
    return r;
  unsigned extra = spin ? spin_extra : 0;
  unsigned polls = spin + extra;
  uint64_t t0 = tsc();
  for (unsigned i = 0; i < polls; i++) {
    cpu_relax();
    run_handled_signals();
    r = b->attempt(b);
    if (r != -PVM_EAGAIN) {
      if (i >= spin)
        spin_backoff_len = 0; /* the longer spin paid off */
      return r;
    }
  }
  uint64_t t1 = tsc();
  if (extra) {
    /* Spun out: stop spinning longer for a while, longer each time it happens. */
    spin_extra = 0;
    spin_backoff_len = spin_backoff_len ? spin_backoff_len * 2 : 1;
    if (spin_backoff_len > SPIN_BACKOFF_MAX)
      spin_backoff_len = SPIN_BACKOFF_MAX;
    spin_backoff = spin_backoff_len;
  }
  if (timeout_ns == 0)
    return -PVM_ETIMEDOUT;
  uint64_t deadline = NO_LIMIT, wait_ns = NO_LIMIT;
  if (timeout_ns != NO_LIMIT) {
    uint64_t now = pvm_time_ns();
    deadline = now + timeout_ns < now ? NO_LIMIT - 1 : now + timeout_ns;
    wait_ns = timeout_ns;
  }
  for (;;) {
    b->set_waiting(b, 1);
    full_fence(); /* the flag visible before we re-check (pairs with the other end's fence) */
    r = b->attempt(b);
    if (r != -PVM_EAGAIN) {
      b->set_waiting(b, 0);
      return r;
    }
    /* A signal the monitor posted at an exit since (a kick) makes WAIT return -EINTR
     * at once: see it here instead and save the exit. */
    long w = pvm_pending_signals() ? -PVM_EINTR : pvm_wait(b->slots, b->count, wait_ns);
    b->set_waiting(b, 0);
    if (w == -PVM_EINTR && pvm_restart_after_eintr())
      w = 0; /* handled signals: go on waiting, like SA_RESTART */
    if (w < 0)
      return w;
    r = b->attempt(b);
    if (r != -PVM_EAGAIN) {
      learn_from_sleep(spin, polls, t0, t1, tsc());
      return r;
    }
    if (deadline != NO_LIMIT) {
      uint64_t now = pvm_time_ns();
      if (now >= deadline)
        return -PVM_ETIMEDOUT;
      wait_ns = deadline - now;
    }
  }
}

/* Set this end's flag at `offset` in ring tx or rx of every slot of b (skipping slots
 * no longer open: their memory may be gone). */
static void set_flag(struct blocker *b, int tx, uint32_t offset, uint32_t v)
{
  for (uint32_t i = 0; i < b->count; i++) {
    struct chan c;
    if (chan_get(b->slots[i], &c))
      continue;
    struct ring *r = tx ? &c.tx : &c.rx;
    store_relaxed(r->ctl + offset / 4, v);
  }
}

static long send_attempt(struct blocker *b) { return pvm_channel_try_send(b->slots[0], b->buf, b->len); }
static void send_waiting(struct blocker *b, uint32_t v) { set_flag(b, 1, PVM_CHANNEL_PRODUCER_WAITING, v); }

int pvm_channel_send(uint32_t slot, const void *buf, size_t len)
{
  struct blocker b = { send_attempt, send_waiting, &slot, 1, (void *)buf, len };
  return (int)block(&b, NO_LIMIT, pvm_channel_spin);
}

static long recv_attempt(struct blocker *b) { return pvm_channel_try_recv(b->slots[0], b->buf, b->len); }
static void recv_waiting(struct blocker *b, uint32_t v) { set_flag(b, 0, PVM_CHANNEL_CONSUMER_WAITING, v); }

long pvm_channel_recv_timeout(uint32_t slot, void *buf, size_t cap, uint64_t timeout_ns)
{
  struct blocker b = { recv_attempt, recv_waiting, &slot, 1, buf, cap };
  return block(&b, timeout_ns, timeout_ns ? pvm_channel_spin : 0);
}

long pvm_channel_recv(uint32_t slot, void *buf, size_t cap)
{
  return pvm_channel_recv_timeout(slot, buf, cap, NO_LIMIT);
}

/* Where the next pvm_channel_wait() starts looking, so that one busy channel does not
 * starve the others. */
static uint32_t wait_rotor;

static long wait_attempt(struct blocker *b)
{
  uint32_t start = wait_rotor % b->count;
  for (uint32_t k = 0; k < b->count; k++) {
    uint32_t i = start + k < b->count ? start + k : start + k - b->count;
    int ready = rx_ready(b->slots[i]);
    if (ready < 0)
      return ready;
    if (ready) {
      wait_rotor = i + 1;
      return i;
    }
  }
  return -PVM_EAGAIN;
}

static long never_ready(struct blocker *b) { return -PVM_EAGAIN; }
static void no_flag(struct blocker *b, uint32_t v) {}

int pvm_channel_wait(const uint32_t *slots, uint32_t count, uint64_t timeout_ns)
{
  if (count > PVM_CHANNEL_SLOTS)
    return -PVM_EINVAL;
  if (count == 0) {
    struct blocker b = { never_ready, no_flag, 0, 0, 0, 0 };
    return (int)block(&b, timeout_ns, 0);
  }
  /* The poll budget is shared between the slots: about pvm_channel_spin ring checks. */
  struct blocker b = { wait_attempt, recv_waiting, slots, count, 0, 0 };
  unsigned spin = pvm_channel_spin ? pvm_channel_spin / count + 1 : 0;
  return (int)block(&b, timeout_ns, spin);
}
