/*
 * fork_plain: forks without a channel (what every backend does, xen's copying fork
 * included), one mode per argv[1]; prints "<mode> ok" and exits 0, else what did not hold.
 *   isolation  a 1 MiB array filled with 'P' before the fork; the child checks it sees 'P',
 *              fills it with 'C', waits 0.1 s, checks it still sees only 'C' (exit 0/1);
 *              the parent fills it with 'Q' at once, waits for the child, checks 'Q'
 *   grand      child forks a grandchild that exits 5; the child waits for it and exits
 *              with its code + 1; the parent waits for the child: 6
 *   kill       the child spins; the parent kills it (SIGKILL) and waits: killed, signal 9
 *   hold       the child sleeps until something ends it from outside; the parent waits for
 *              it and prints "hold: child ended, kind <k>"
 *   share      the array filled with 'P' before the fork; the child reads all of it, says
 *              "share: read", waits for SIGUSR1, fills it with 'C', says "share: written",
 *              waits for SIGUSR1 and exits 0 (the host reads its page counts meanwhile)
 *   many N     N children at once: each waits for SIGUSR1 and exits with its index; the
 *              parent says "many: N forked", waits for them all, checks their codes
 *   chain N    N generations: each writes a page of its own and forks, then exits 0 at
 *              once while its child goes on; the last one waits for SIGUSR1, exits 0
 */
#include <pvm.h>
#include <stdio.h>
#include <string.h>

#define SIZE (1 << 20)
static unsigned char array[SIZE];

#define CHECK(cond, ...)           \
  do {                             \
    if (!(cond)) {                 \
      printf("FAILED: " __VA_ARGS__); \
      printf("\n");                \
      return 1;                    \
    }                              \
  } while (0)

static int all(unsigned char c)
{
  unsigned char bad = 0;
  for (size_t i = 0; i < SIZE; i++)
    bad |= (unsigned char)(array[i] ^ c);
  return bad == 0;
}

static void sleep_ns(uint64_t ns)
{
  uint64_t until = pvm_time_ns() + ns;
  for (uint64_t now = pvm_time_ns(); now < until; now = pvm_time_ns())
    pvm_wait(0, 0, until - now);
}

static int mode_isolation(void)
{
  memset(array, 'P', SIZE);
  long child = pvm_fork(0);
  CHECK(child >= 0, "fork: %s", pvm_strerror(child));
  if (child == 0) {
    if (!all('P'))
      return 1;
    memset(array, 'C', SIZE);
    sleep_ns(100000000);
    return all('C') ? 0 : 2;
  }
  memset(array, 'Q', SIZE);
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child, "waitpid");
  CHECK(st.kind == PVM_WAIT_EXIT && st.code == 0, "child: kind %u code %d (1: saw no P, 2: saw the parent write)", st.kind, st.code);
  CHECK(all('Q'), "the parent saw the child write");
  printf("isolation ok\n");
  return 0;
}

static int mode_grand(void)
{
  long child = pvm_fork(0);
  CHECK(child >= 0, "fork: %s", pvm_strerror(child));
  if (child == 0) {
    long grand = pvm_fork(0);
    if (grand == 0)
      return 5;
    struct pvm_child_status st;
    if (grand < 0 || pvm_waitpid(grand, &st, ~0ULL) != grand || st.kind != PVM_WAIT_EXIT)
      return 100;
    return st.code + 1;
  }
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child, "waitpid");
  CHECK(st.kind == PVM_WAIT_EXIT && st.code == 6, "child: kind %u code %d", st.kind, st.code);
  printf("grand ok\n");
  return 0;
}

static int mode_kill(void)
{
  long child = pvm_fork(0);
  CHECK(child >= 0, "fork: %s", pvm_strerror(child));
  if (child == 0) {
    for (;;)
      sleep_ns(1000000000);
  }
  CHECK(pvm_kill((uint64_t)child, PVM_SIGKILL) == 0, "kill");
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child, "waitpid");
  CHECK(st.kind == PVM_WAIT_KILLED && st.code == PVM_SIGKILL, "child: kind %u code %d", st.kind, st.code);
  printf("kill ok\n");
  return 0;
}

static int mode_hold(void)
{
  long child = pvm_fork(0);
  CHECK(child >= 0, "fork: %s", pvm_strerror(child));
  if (child == 0) {
    for (;;)
      sleep_ns(1000000000);
  }
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child, "waitpid");
  printf("hold: child ended, kind %u\n", st.kind);
  return 0;
}

/* Until the host sends SIGUSR1 (WAIT says -PVM_EINTR while a signal is pending). */
static void wait_usr1(void)
{
  while (!(pvm_pending_signals() & (1ULL << PVM_SIGUSR1)))
    pvm_wait(0, 0, ~0ULL);
  pvm_signals();
}

static int mode_share(void)
{
  memset(array, 'P', SIZE);
  long child = pvm_fork(0);
  CHECK(child >= 0, "fork: %s", pvm_strerror(child));
  if (child == 0) {
    if (!all('P'))
      return 1;
    printf("share: read\n");
    wait_usr1();
    memset(array, 'C', SIZE);
    printf("share: written\n");
    wait_usr1();
    return all('C') ? 0 : 2;
  }
  struct pvm_child_status st;
  CHECK(pvm_waitpid(child, &st, ~0ULL) == child, "waitpid");
  CHECK(st.kind == PVM_WAIT_EXIT && st.code == 0, "child: kind %u code %d", st.kind, st.code);
  CHECK(all('P'), "the parent saw the child write");
  printf("share ok\n");
  return 0;
}

static int mode_many(int n)
{
  static long ids[256];
  CHECK(n > 0 && n <= 256, "many: N in 1..256");
  for (int i = 0; i < n; i++) {
    long child = pvm_fork(0);
    CHECK(child >= 0, "many: fork %d: %s", i, pvm_strerror(child));
    if (child == 0) {
      wait_usr1();
      return i;
    }
    ids[i] = child;
  }
  printf("many: %d forked\n", n);
  for (int i = 0; i < n; i++) {
    struct pvm_child_status st;
    CHECK(pvm_waitpid(ids[i], &st, ~0ULL) == ids[i], "many: waitpid %d", i);
    CHECK(st.kind == PVM_WAIT_EXIT && st.code == i, "many: child %d: kind %u code %d", i, st.kind, st.code);
  }
  printf("many ok\n");
  return 0;
}

static int mode_chain(int n)
{
  for (int i = 0; i < n; i++) {
    array[(size_t)i * 4096 % SIZE] = (unsigned char)i;
    long child = pvm_fork(0);
    CHECK(child >= 0, "chain: fork %d: %s", i, pvm_strerror(child));
    if (child > 0)
      return 0;
  }
  for (int i = 0; i < n; i++)
    CHECK(array[(size_t)i * 4096 % SIZE] == (unsigned char)i, "chain: generation %d's page lost", i);
  wait_usr1();
  return 0;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "isolation"))
    return mode_isolation();
  if (!strcmp(mode, "grand"))
    return mode_grand();
  if (!strcmp(mode, "kill"))
    return mode_kill();
  if (!strcmp(mode, "hold"))
    return mode_hold();
  if (!strcmp(mode, "share"))
    return mode_share();
  int n = 0;
  for (const char *p = argc > 2 ? argv[2] : "0"; *p >= '0' && *p <= '9'; p++)
    n = n * 10 + (*p - '0');
  if (!strcmp(mode, "chain"))
    return mode_chain(n);
  if (!strcmp(mode, "many"))
    return mode_many(n);
  printf("unknown mode %s\n", mode);
  return 1;
}
