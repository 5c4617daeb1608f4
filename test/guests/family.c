/*
 * family: the KylinX family primitives from a guest, one mode per argv[1]:
 *   signal   a child blocked in a receive is interrupted by USR1 and takes it without
 *            another exit (SIGNALS_IN_PAGE); a USR1 posted while it computes makes its
 *            next receive return -PVM_EINTR without a WAIT; then TERM ends it
 *   handler  a handled USR1 runs its handler and the child's receive goes on
 *   waitpid  three children exit 3, 4, 5; waitpid(any) collects them; then ECHILD
 *   rule     kills inside the family work, outside (sibling, stranger, unknown) do not
 *   shm      a region made before fork is shared by parent and child
 *   crash    a child that faults: the parent's receive ends, waitpid reports the fault
 * Prints "<mode> ok" and exits 0 when everything held, else a line saying what did not.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char buf[256];

#define CHECK(cond, ...)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      printf("FAILED %s:%d: ", __FILE__, __LINE__);                                    \
      printf(__VA_ARGS__);                                                               \
      printf("\n");                                                                      \
      exit(1);                                                                           \
    }                                                                                    \
  } while (0)

static void say(uint32_t ch, const char *text) { pvm_channel_send(ch, text, strlen(text)); }

static long hear(uint32_t ch)
{
  long n = pvm_channel_recv(ch, buf, sizeof buf - 1);
  if (n >= 0)
    buf[n] = 0;
  return n;
}

static int mode_signal(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0) {
    CHECK(pvm_boot_info()->flags & PVM_BOOT_FLAG_SIGNALS_IN_PAGE, "child: the monitor does not offer SIGNALS_IN_PAGE");
    say(ch, "waiting");
    long n = hear(ch); /* no handler: the signal interrupts this */
    CHECK(n == -PVM_EINTR, "child: recv gave %ld, not EINTR", n);
    uint64_t before = pvm_hypercall_count;
    uint64_t sigs = pvm_signals(); /* WAIT posted them in the boot-info page: no exit */
    CHECK(pvm_hypercall_count == before, "child: taking the signals cost %llu exits",
          (unsigned long long)(pvm_hypercall_count - before));
    CHECK(pvm_pending_signals() == 0, "child: signals still pending after pvm_signals()");
    snprintf(buf, sizeof buf, "got %llu", (unsigned long long)sigs);
    say(ch, buf);
    /* A signal that comes while the guest computes is posted at the exit it causes (a
     * kick): the next receive sees it and returns without sleeping in WAIT. */
    while (!pvm_pending_signals())
      __builtin_ia32_pause();
    before = pvm_hypercall_count;
    n = hear(ch);
    CHECK(n == -PVM_EINTR, "child: recv with a signal pending gave %ld, not EINTR", n);
    CHECK(pvm_hypercall_count == before, "child: recv with a signal pending made %llu hypercalls",
          (unsigned long long)(pvm_hypercall_count - before));
    sigs = pvm_signals();
    snprintf(buf, sizeof buf, "again %llu", (unsigned long long)sigs);
    say(ch, buf);
    hear(ch); /* until TERM ends us */
    return 9;
  }
  CHECK(child > 0, "fork: %s", pvm_strerror(child));
  hear(ch);
  CHECK(pvm_kill(child, PVM_SIGUSR1) == 0, "kill USR1");
  hear(ch);
  CHECK(strcmp(buf, "got 1024") == 0, "child said %s", buf); /* bit 10 = USR1 */
  CHECK(pvm_kill(child, PVM_SIGUSR1) == 0, "kill USR1 again");
  hear(ch);
  CHECK(strcmp(buf, "again 1024") == 0, "child said %s", buf);
  CHECK(pvm_kill(child, PVM_SIGTERM) == 0, "kill TERM");
  struct pvm_child_status st;
  long r = pvm_waitpid(child, &st, ~0ULL);
  CHECK(r == child && st.kind == PVM_WAIT_KILLED && st.code == PVM_SIGTERM, "waitpid %ld kind %u code %d", r, st.kind, st.code);
  printf("signal ok\n");
  return 0;
}

static volatile int handled;
static void on_usr1(int sig) { handled += sig; }

static int mode_handler(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0) {
    pvm_signal(PVM_SIGUSR1, on_usr1);
    say(ch, "ready");
    long n = hear(ch); /* the handler runs inside, the receive goes on */
    CHECK(n > 0 && strcmp(buf, "go") == 0, "child: recv %ld %s", n, buf);
    snprintf(buf, sizeof buf, "handled %d", handled);
    say(ch, buf);
    return 0;
  }
  hear(ch);
  CHECK(pvm_kill(child, PVM_SIGUSR1) == 0, "kill USR1");
  /* Give the child time to be interrupted in its receive before "go" arrives. */
  uint64_t until = pvm_time_ns() + 20000000;
  while (pvm_time_ns() < until)
    ;
  say(ch, "go");
  hear(ch);
  CHECK(strcmp(buf, "handled 10") == 0, "child said %s", buf);
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child && st.kind == PVM_WAIT_EXIT && st.code == 0, "waitpid");
  printf("handler ok\n");
  return 0;
}

static int mode_waitpid(void)
{
  long ids[3];
  for (int i = 0; i < 3; i++) {
    ids[i] = pvm_fork(0);
    if (ids[i] == 0)
      return 3 + i;
    CHECK(ids[i] > 0, "fork %d: %s", i, pvm_strerror(ids[i]));
  }
  int seen = 0;
  for (int k = 0; k < 3; k++) {
    struct pvm_child_status st;
    long id = pvm_waitpid(0, &st, ~0ULL);
    int i = id == ids[0] ? 0 : id == ids[1] ? 1 : id == ids[2] ? 2 : -1;
    CHECK(i >= 0, "waitpid returned %ld", id);
    CHECK(st.kind == PVM_WAIT_EXIT && st.code == 3 + i, "child %d: kind %u code %d", i, st.kind, st.code);
    seen |= 1 << i;
  }
  CHECK(seen == 7, "seen %d", seen);
  CHECK(pvm_waitpid(0, 0, ~0ULL) == -PVM_ECHILD, "no child left");
  CHECK(pvm_waitpid(ids[0], 0, 0) == -PVM_ECHILD, "waited twice");
  CHECK(pvm_waitpid(pvm_id(), 0, 0) == -PVM_ECHILD, "self is no child");
  long live = pvm_fork(0);
  if (live == 0) {
    /* 0.2 s. WAIT may return early (e.g. when a warm spare is due): sleep on. */
    uint64_t until = pvm_time_ns() + 200000000;
    for (uint64_t now = pvm_time_ns(); now < until; now = pvm_time_ns())
      pvm_wait(0, 0, until - now);
    return 0;
  }
  CHECK(pvm_waitpid(live, 0, 0) == 0, "WNOHANG on a live child");
  CHECK(pvm_waitpid(live, 0, 1000000) == -PVM_ETIMEDOUT, "timeout");
  CHECK(pvm_waitpid(live, 0, ~0ULL) == live, "then it ends");
  printf("waitpid ok\n");
  return 0;
}

static int mode_rule(uint64_t stranger)
{
  uint64_t parent = pvm_id();
  uint32_t ch_a, ch_b;
  long a = pvm_fork(&ch_a);
  if (a == 0) {
    hear(ch_a); /* the sibling's id */
    long sibling = strtol(buf, 0, 10);
    long r1 = pvm_kill((uint64_t)sibling, PVM_SIGUSR1);
    /* Waiting is for one's own children only. */
    CHECK(pvm_waitpid((uint64_t)sibling, 0, 0) == -PVM_ECHILD, "waitpid of a sibling");
    CHECK(pvm_waitpid(parent, 0, 0) == -PVM_ECHILD, "waitpid of the parent");
    long r2 = pvm_kill(parent, PVM_SIGUSR2); /* an ancestor: allowed */
    uint32_t ch_g;
    long g = pvm_fork(&ch_g);
    if (g == 0) {
      long r3 = pvm_kill(parent, PVM_SIGUSR2); /* grandparent: allowed */
      long r4 = pvm_kill((uint64_t)sibling, PVM_SIGUSR2); /* an uncle: not family */
      snprintf(buf, sizeof buf, "%ld %ld", r3, r4);
      say(ch_g, buf);
      return 0;
    }
    hear(ch_g);
    char grand[64];
    snprintf(grand, sizeof grand, "%s", buf);
    pvm_waitpid(g, 0, ~0ULL);
    snprintf(buf, sizeof buf, "%ld %ld %s", r1, r2, grand);
    say(ch_a, buf);
    return 0;
  }
  long b = pvm_fork(&ch_b);
  if (b == 0) {
    hear(ch_b); /* until the parent closes it */
    return 0;
  }
  snprintf(buf, sizeof buf, "%ld", b);
  say(ch_a, buf);
  for (;;) {
    long n = hear(ch_a);
    if (n > 0)
      break;
    CHECK(n == -PVM_EINTR, "recv %ld", n);
    pvm_signals(); /* the USR2s from the child and the grandchild */
  }
  char expect[64];
  snprintf(expect, sizeof expect, "%d 0 0 %d", -PVM_EPERM, -PVM_EPERM);
  CHECK(strcmp(buf, expect) == 0, "child reported %s, expected %s", buf, expect);
  CHECK(pvm_kill(stranger, PVM_SIGUSR1) == -PVM_EPERM, "a pVM of another family: %ld",
        pvm_kill(stranger, PVM_SIGUSR1));
  CHECK(pvm_kill(999999999, PVM_SIGUSR1) == -PVM_ESRCH, "unknown pVM");
  CHECK(pvm_kill(a, 77) == -PVM_EINVAL, "unknown signal");
  /* USR2s may still be arriving: take them, and wait on. */
  long r;
  while ((r = pvm_waitpid(a, 0, ~0ULL)) == -PVM_EINTR)
    pvm_signals();
  CHECK(r == a, "waitpid a: %ld", r);
  pvm_kill(b, PVM_SIGTERM);
  while ((r = pvm_waitpid(b, 0, ~0ULL)) == -PVM_EINTR)
    pvm_signals();
  CHECK(r == b, "waitpid b: %ld", r);
  printf("rule ok\n");
  return 0;
}

static int mode_shm(void)
{
  long slot = pvm_shm_create(8192);
  CHECK(slot >= 0, "shm_create: %s", pvm_strerror(slot));
  volatile uint32_t *shared = pvm_channel_base((uint32_t)slot);
  CHECK(shared[0] == 0 && shared[2047] == 0, "not zeroed");
  shared[0] = 1;
  long child = pvm_fork(0);
  if (child == 0) {
    CHECK(shared[0] == 1, "child sees %u", shared[0]);
    shared[2047] = 0xc0ffee; /* the parent sees this: the page is shared, not copied */
    while (shared[0] != 2)
      __builtin_ia32_pause();
    return 0;
  }
  while (shared[2047] != 0xc0ffee)
    __builtin_ia32_pause();
  shared[0] = 2;
  CHECK(pvm_waitpid(child, 0, ~0ULL) == child, "waitpid");
  CHECK(pvm_shm_create(0) == -PVM_EINVAL, "size 0");
  CHECK(pvm_shm_create(PVM_CHANNEL_SLOT_SIZE + 1) == -PVM_EINVAL, "too big");
  printf("shm ok\n");
  return 0;
}

static int mode_crash(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0) {
    volatile int *null = 0;
    return *null;
  }
  long n = hear(ch);
  CHECK(n == -PVM_EPIPE, "recv from a crashed child gave %ld", n);
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child && st.kind == PVM_WAIT_FAULT, "waitpid kind %u", st.kind);
  printf("crash ok\n");
  return 0;
}

/* hub <n>: take n channels the host gives, one at a time: answer one message on each. */
static int mode_hub(int n)
{
  printf("hub: ready\n");
  pvm_console_flush();
  for (int i = 0; i < n; i++) {
    uint64_t peer = 99;
    long slot = pvm_channel_accept(&peer, ~0ULL);
    CHECK(slot >= 0, "accept: %s", pvm_strerror(slot));
    long len = hear((uint32_t)slot);
    CHECK(len >= 0, "recv: %s", pvm_strerror(len));
    char reply[300];
    snprintf(reply, sizeof reply, "hub %llu got '%s' from %llu on slot %ld", (unsigned long long)pvm_id(), buf,
             (unsigned long long)peer, slot);
    say((uint32_t)slot, reply);
    /* Closing twice would be a bug here, as with fds: the host may already have put
     * its next channel in the freed slot. */
    CHECK(pvm_channel_close((uint32_t)slot) == 0, "close");
  }
  printf("hub ok\n");
  return 0;
}

/* pair: parent and child each take the channel the host makes between them and talk. */
static int mode_pair(void)
{
  long child = pvm_fork(0);
  CHECK(child >= 0, "fork: %s", pvm_strerror(child));
  printf("%s: ready\n", child ? "parent" : "child");
  pvm_console_flush();
  uint64_t peer;
  long slot = pvm_channel_accept(&peer, ~0ULL);
  CHECK(slot >= 0, "accept: %s", pvm_strerror(slot));
  CHECK(peer == (child ? (uint64_t)child : pvm_parent_id()), "peer %llu", (unsigned long long)peer);
  if (child) {
    say((uint32_t)slot, "from the parent");
    hear((uint32_t)slot);
    CHECK(strcmp(buf, "from the child") == 0, "parent heard %s", buf);
    CHECK(pvm_waitpid(child, 0, ~0ULL) == child, "waitpid");
    printf("pair ok\n");
  } else {
    hear((uint32_t)slot);
    CHECK(strcmp(buf, "from the parent") == 0, "child heard %s", buf);
    say((uint32_t)slot, "from the child");
  }
  return 0;
}

/* badslot: channel hypercalls on slots this pVM does not have are refused. */
static int mode_badslot(void)
{
  uint32_t none = 5;
  CHECK(pvm_notify(5) == -PVM_EBADF, "notify");
  CHECK(pvm_wait(&none, 1, 0) == -PVM_EBADF, "wait");
  CHECK(pvm_channel_close(5) == -PVM_EBADF, "close");
  CHECK(pvm_notify(100000) == -PVM_EBADF, "notify out of range");
  CHECK(pvm_channel_send(5, "x", 1) == -PVM_EBADF, "send");
  printf("badslot ok\n");
  return 0;
}

/* pipe: take a channel from the host, read it as a byte stream to its end in odd-sized
 * reads, answer "<bytes> <sum>" (sum of all bytes mod 2^32) the same way. */
static int mode_pipe(void)
{
  printf("pipe: ready\n");
  pvm_console_flush();
  long slot = pvm_channel_accept(0, ~0ULL);
  CHECK(slot >= 0, "accept: %s", pvm_strerror(slot));
  unsigned long total = 0;
  uint32_t sum = 0;
  static unsigned char chunk[7777];
  for (;;) {
    long n = pvm_pipe_read((uint32_t)slot, chunk, sizeof chunk);
    CHECK(n >= 0, "pipe_read: %s", pvm_strerror(n));
    if (n == 0)
      break;
    for (long i = 0; i < n; i++)
      sum += chunk[i];
    total += (unsigned long)n;
  }
  int len = snprintf(buf, sizeof buf, "%lu %u", total, sum);
  CHECK(pvm_pipe_write((uint32_t)slot, buf, (size_t)len) == len, "pipe_write");
  pvm_channel_close((uint32_t)slot);
  printf("pipe ok\n");
  return 0;
}

/* hostshm: take a region from the host, wait for it to write "ping", write "pong". */
static int mode_hostshm(void)
{
  printf("hostshm: ready\n");
  pvm_console_flush();
  long slot = pvm_shm_accept(~0ULL);
  CHECK(slot >= 0, "shm_accept: %s", pvm_strerror(slot));
  volatile char *region = pvm_channel_base((uint32_t)slot);
  while (region[0] != 'p')
    __builtin_ia32_pause();
  CHECK(memcmp((const char *)region, "ping", 4) == 0, "region holds %.4s", (const char *)region);
  memcpy((char *)region + 100, "pong", 4);
  printf("hostshm ok\n");
  return 0;
}

/* cycles <n>: n fork/exit/waitpid cycles without a channel and n with one that is
 * closed: nothing accumulates (slots, children). */
static int mode_cycles(int n)
{
  for (int i = 0; i < 2 * n; i++) {
    uint32_t ch;
    int with_channel = i >= n;
    long child = pvm_fork(with_channel ? &ch : 0);
    if (child == 0) {
      if (with_channel)
        say(ch, "bye");
      return i & 0x7f;
    }
    CHECK(child > 0, "cycle %d: fork: %s", i, pvm_strerror(child));
    if (with_channel) {
      CHECK(hear(ch) == 3, "cycle %d: recv", i);
      CHECK(pvm_channel_close(ch) == 0, "cycle %d: close", i);
    }
    struct pvm_child_status st;
    CHECK(pvm_waitpid(child, &st, ~0ULL) == child && st.code == (i & 0x7f), "cycle %d: waitpid", i);
  }
  printf("cycles ok\n");
  return 0;
}

/* exec: every bad EXEC fails and this image goes on; then a good one replaces it. */
static int mode_exec(void)
{
  static char marker[] = "still the old image";
  CHECK(pvm_exec("no_such_image", 0, 0) == -PVM_ENOENT, "missing image");
  CHECK(pvm_exec("../family", 0, 0) == -PVM_ENOENT, "a path, not a name");
  CHECK(pvm_exec((const char *)8, 0, 0) == -PVM_EFAULT, "path outside RAM");
  char *bad_argv[] = {"hello", (char *)(uintptr_t)0x7ffffffff000ULL, 0};
  CHECK(pvm_exec("hello", bad_argv, 0) == -PVM_EFAULT, "argv outside RAM");
  CHECK(pvm_exec("hello", 0, 4096) == -PVM_EINVAL, "RAM too small");
  CHECK(pvm_exec("big", 0, 8u << 20) == -PVM_ENOEXEC, "image larger than its RAM");
  CHECK(strcmp(marker, "still the old image") == 0, "memory changed");
  printf("exec: old image fine\n");
  char *argv[] = {"hello", "from", "exec", 0};
  long r = pvm_exec("hello", argv, 32u << 20);
  printf("exec: FAILED %s\n", pvm_strerror(r));
  return 1;
}

/* forkexec: the child execs another image that talks over the inherited channel. */
static int mode_forkexec(void)
{
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0) {
    char *argv[] = {"family", "execchild", 0};
    long r = pvm_exec("family", argv, 0);
    printf("child: exec FAILED %s\n", pvm_strerror(r));
    return 1;
  }
  CHECK(child > 0, "fork: %s", pvm_strerror(child));
  CHECK(hear(ch) > 0, "recv");
  char expect[128];
  snprintf(expect, sizeof expect, "new image %ld of parent %llu on slot %u", child, (unsigned long long)pvm_id(), ch);
  CHECK(strcmp(buf, expect) == 0, "heard '%s', expected '%s'", buf, expect);
  say(ch, "welcome");
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child && st.kind == PVM_WAIT_EXIT && st.code == 5, "waitpid: kind %u code %d",
        st.kind, st.code);
  printf("forkexec ok\n");
  return 0;
}

/* execchild: what the forked child became; its fork channel survived the exec. */
static int mode_execchild(void)
{
  uint32_t ch = pvm_fork_channel();
  CHECK(ch != PVM_CHANNEL_NONE, "no fork channel after exec");
  snprintf(buf, sizeof buf, "new image %llu of parent %llu on slot %u", (unsigned long long)pvm_id(),
           (unsigned long long)pvm_parent_id(), ch);
  say(ch, buf);
  CHECK(hear(ch) > 0 && strcmp(buf, "welcome") == 0, "heard %s", buf);
  return 5;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "signal")) return mode_signal();
  if (!strcmp(mode, "handler")) return mode_handler();
  if (!strcmp(mode, "waitpid")) return mode_waitpid();
  if (!strcmp(mode, "rule")) return mode_rule(argc > 2 ? strtoull(argv[2], 0, 10) : 0);
  if (!strcmp(mode, "shm")) return mode_shm();
  if (!strcmp(mode, "crash")) return mode_crash();
  if (!strcmp(mode, "hub")) return mode_hub(argc > 2 ? atoi(argv[2]) : 1);
  if (!strcmp(mode, "pair")) return mode_pair();
  if (!strcmp(mode, "badslot")) return mode_badslot();
  if (!strcmp(mode, "pipe")) return mode_pipe();
  if (!strcmp(mode, "exec")) return mode_exec();
  if (!strcmp(mode, "forkexec")) return mode_forkexec();
  if (!strcmp(mode, "execchild")) return mode_execchild();
  if (!strcmp(mode, "cycles")) return mode_cycles(argc > 2 ? atoi(argv[2]) : 150);
  if (!strcmp(mode, "hostshm")) return mode_hostshm();
  printf("usage: family signal|handler|waitpid|rule <stranger id>|shm|crash\n");
  return 2;
}
