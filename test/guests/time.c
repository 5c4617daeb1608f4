/*
 * time: the guest's clock (pvm_time_ns).
 *   time            reads it around a short busy loop and prints
 *                     "t1=<ns> t2=<ns> delta=<ns>", "monotonic ok" (only if t2 > t1 > 0),
 *                     "id=<pvm id>"; exit 0 if the clock is monotonic, 1 otherwise.
 *   time reads N    N reads in a row: "first=<ns> last=<ns> backwards=<count>
 *                     maxdiff_us=<how far, at most, a TIME hypercall's read lies outside
 *                     the clock's reads just before and after it; every 1000th read>"
 *                     and "reads ok" if nothing went backwards; exit 0 then, else 1.
 *   time sleep MS   a WAIT of MS milliseconds timed by the clock: "slept_us=<us>".
 *   time fork N     reads the clock, forks (no channel), and both do `reads N`, the child
 *                   first (the parent waits for it); exit 1 if either failed.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reads(unsigned long n)
{
  uint64_t first = pvm_time_ns(), prev = first, maxdiff = 0;
  unsigned long backwards = 0;
  for (unsigned long i = 0; i < n; i++) {
    uint64_t t = pvm_time_ns();
    if (t < prev)
      backwards++;
    prev = t;
    if (i % 1000 == 0) {
      /* How far a TIME read lies outside the clock's reads around it. */
      uint64_t exact = (uint64_t)pvm_hypercall0(PVM_HC_TIME);
      uint64_t after = pvm_time_ns();
      uint64_t diff = exact < t ? t - exact : exact > after ? exact - after : 0;
      if (diff > maxdiff)
        maxdiff = diff;
      prev = after;
    }
  }
  printf("first=%llu last=%llu backwards=%lu maxdiff_us=%llu\n", (unsigned long long)first,
         (unsigned long long)prev, backwards, (unsigned long long)(maxdiff / 1000));
  if (backwards)
    return 1;
  printf("reads ok\n");
  return 0;
}

int main(int argc, char **argv)
{
  if (argc > 2 && strcmp(argv[1], "reads") == 0)
    return reads(strtoul(argv[2], 0, 10));
  if (argc > 2 && strcmp(argv[1], "fork") == 0) {
    unsigned long n = strtoul(argv[2], 0, 10);
    pvm_time_ns(); /* the parent's clock is set before the fork: the child's must be set again */
    long child = pvm_fork(0);
    if (child == 0)
      return reads(n);
    if (child < 0) {
      printf("fork failed: %s\n", pvm_strerror(child));
      return 1;
    }
    struct pvm_child_status st;
    long r = pvm_waitpid((uint64_t)child, &st, ~0ull);
    if (r < 0 || st.kind != PVM_WAIT_EXIT || st.code != 0) {
      printf("child: %s kind %u code %d\n", r < 0 ? pvm_strerror(r) : "ended", st.kind, st.code);
      return 1;
    }
    printf("child ok\n");
    return reads(n);
  }
  if (argc > 2 && strcmp(argv[1], "sleep") == 0) {
    uint64_t t0 = pvm_time_ns();
    pvm_wait(0, 0, strtoul(argv[2], 0, 10) * 1000000ull);
    printf("slept_us=%llu\n", (unsigned long long)((pvm_time_ns() - t0) / 1000));
    return 0;
  }
  uint64_t t1 = pvm_time_ns();
  for (volatile int i = 0; i < 1000000; i++)
    ;
  uint64_t t2 = pvm_time_ns();
  printf("t1=%llu t2=%llu delta=%llu\n", (unsigned long long)t1, (unsigned long long)t2,
         (unsigned long long)(t2 - t1));
  int ok = t2 > t1 && t1 > 0;
  if (ok)
    printf("monotonic ok\n");
  printf("id=%llu\n", (unsigned long long)pvm_id());
  return ok ? 0 : 1;
}
