/*
 * hostile: a guest that misbehaves on purpose, one way per argv[1] (test/hostile.test.ts).
 *   badptr            every hypercall that takes a pointer or a length gets bad ones
 *                     (outside RAM, in page 0, straddling the end of RAM, non-canonical,
 *                     in the channel window, huge counts and sizes); prints
 *                     "ok <check>" or "FAILED <check>: got <r>, want <e>" per check, then
 *                     "badptr: <n> checks, <f> failed" and exits 0 if none failed, else 1.
 *   badid             the same for channel ids: huge slot numbers (also ones whose low 32
 *                     bits name an open slot), closed slots, a shared-memory slot used as
 *                     a channel; "badid: <n> checks, <f> failed".
 *   flood <n>         n hypercalls (GETID, TIME, CONSOLE_FLUSH, SIGNALS, a NOTIFY on a
 *                     bad slot) as fast as it can; checks each answer; prints
 *                     "flood: <n> hypercalls in <ms> ms" and exits 0 (1 on a wrong answer).
 *   notifyflood <n>   prints "notifyflood: ready", takes a channel from the host, rings
 *                     the host's doorbell n times (NOTIFY), then sends "done <n>" and exits.
 *   pagetables <how>  writes over its own page tables, then reloads CR3: how = zero (the
 *                     PML4), random (the PDPT and the first page directory), monitor (has
 *                     the monitor write a WAITPID status over the PML4). Prints
 *                     "pagetables: about to <how>" first; "pagetables: still alive" and
 *                     exit 3 if it survives.
 *   spin              prints "spin: ready", then loops forever without an exit.
 *   bomb <depth> <fan>  a fork bomb bounded in depth: every pVM down to <depth> forks <fan>
 *                     children as fast as it can, and every one of them does the same;
 *                     then the root forks children that exit at once until FORK fails
 *                     with EAGAIN, prints "bomb: limit after <n> children: <error>",
 *                     "bomb: <m> other failures" (FORKs that failed otherwise) and
 *                     "bomb: ready", and waits forever like the rest of the tree.
 *   memhog            mallocs until malloc returns NULL (1 MiB blocks, then smaller ones),
 *                     then writes every page it got and checks it; prints
 *                     "memhog: <KiB> KiB of a <KiB> KiB heap, all touched" and exits 0.
 *   execargs          EXEC with an argv of thousands of pointers to one long string (far
 *                     more than the args area holds): prints "execargs: <error> after
 *                     <ms> ms", then waits forever (so the host can look at the monitor).
 *   execram <MiB>     EXEC of this image with <MiB> of RAM into mode "ram", which prints
 *                     "ram: <MiB> MiB" and exits 0; "execram: <error>" and exit 1 if EXEC
 *                     failed.
 *   spew <MiB>        writes <MiB> MiB to the console as fast as it can, then
 *                     "spew: done" and exits 0.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned checks, failures;

/* Hide a value from the optimiser (it must not reason about the bad pointers). */
static uint64_t opaque(uint64_t v)
{
  __asm__ volatile("" : "+r"(v));
  return v;
}

static void expect(const char *what, long got, long want)
{
  checks++;
  if (got == want) {
    printf("ok %s\n", what);
  } else {
    failures++;
    printf("FAILED %s: got %ld (%s), want %ld (%s)\n", what, got, pvm_strerror(got), want, pvm_strerror(want));
  }
}

static int summary(const char *mode)
{
  printf("%s: %u checks, %u failed\n", mode, checks, failures);
  return failures ? 1 : 0;
}

#define NONCANONICAL 0x8000000000000000ULL

static long wait_raw(uint64_t slots, uint64_t count)
{
  return pvm_hypercall3(PVM_HC_WAIT, (long)opaque(slots), (long)opaque(count), 0);
}

static long waitpid_raw(uint64_t id, uint64_t status, uint64_t timeout)
{
  return pvm_hypercall3(PVM_HC_WAITPID, (long)id, (long)opaque(status), (long)timeout);
}

static long fork_raw(uint64_t channel_out)
{
  long r = pvm_hypercall1(PVM_HC_FORK, (long)opaque(channel_out));
  if (r == 0) /* a child made by a bad FORK that should have failed */
    pvm_exit(99);
  return r;
}

static long exec_raw(uint64_t path, uint64_t argv, uint64_t ram)
{
  return pvm_hypercall3(PVM_HC_EXEC, (long)opaque(path), (long)opaque(argv), (long)ram);
}

static int mode_badptr(void)
{
  const uint64_t ram = pvm_ram_size();
  const uint64_t window = __pvm_boot->channel_window;
  static uint32_t good_slots[PVM_CHANNEL_SLOTS + 8];

  /* WAIT: the slot array. */
  expect("WAIT slots at the end of RAM", wait_raw(ram, 1), -PVM_EFAULT);
  expect("WAIT slots straddling the end of RAM", wait_raw(ram - 2, 1), -PVM_EFAULT);
  expect("WAIT slots 1 GiB past RAM", wait_raw(ram + (1ULL << 30), 1), -PVM_EFAULT);
  expect("WAIT slots NULL", wait_raw(0, 1), -PVM_EFAULT);
  expect("WAIT slots in page 0", wait_raw(8, 1), -PVM_EFAULT);
  expect("WAIT slots at ~0 (wraps around)", wait_raw(~0ULL - 3, 1), -PVM_EFAULT);
  expect("WAIT slots non-canonical", wait_raw(NONCANONICAL, 1), -PVM_EFAULT);
  expect("WAIT slots in the channel window", wait_raw(window, 1), -PVM_EFAULT);
  expect("WAIT 128 slots running off RAM", wait_raw(ram - 64, PVM_CHANNEL_SLOTS), -PVM_EFAULT);
  expect("WAIT count 129", wait_raw((uint64_t)(uintptr_t)good_slots, PVM_CHANNEL_SLOTS + 1), -PVM_EINVAL);
  expect("WAIT count 2^62 (count*4 wraps)", wait_raw((uint64_t)(uintptr_t)good_slots, 1ULL << 62), -PVM_EINVAL);
  expect("WAIT count ~0", wait_raw((uint64_t)(uintptr_t)good_slots, ~0ULL), -PVM_EINVAL);
  expect("WAIT count 0, slots NULL, no timeout: fine", wait_raw(0, 0), 0);

  /* WAITPID: the status pointer (checked before anything else). */
  expect("WAITPID status at the end of RAM", waitpid_raw(0, ram, 0), -PVM_EFAULT);
  expect("WAITPID status straddling the end of RAM", waitpid_raw(0, ram - 4, 0), -PVM_EFAULT);
  expect("WAITPID status in page 0", waitpid_raw(0, 16, 0), -PVM_EFAULT);
  expect("WAITPID status at ~0", waitpid_raw(0, ~0ULL, 0), -PVM_EFAULT);
  expect("WAITPID status non-canonical", waitpid_raw(0, NONCANONICAL, 0), -PVM_EFAULT);
  expect("WAITPID status in the channel window", waitpid_raw(0, window, 0), -PVM_EFAULT);
  expect("WAITPID of nobody, id ~0", waitpid_raw(~0ULL, 0, 0), -PVM_ECHILD);

  /* FORK: channel_out. No child may be made by any of these. */
  expect("FORK channel_out at the end of RAM", fork_raw(ram), -PVM_EFAULT);
  expect("FORK channel_out straddling the end of RAM", fork_raw(ram - 2), -PVM_EFAULT);
  expect("FORK channel_out in page 0", fork_raw(4), -PVM_EFAULT);
  expect("FORK channel_out at ~0", fork_raw(~0ULL), -PVM_EFAULT);
  expect("FORK channel_out non-canonical", fork_raw(NONCANONICAL), -PVM_EFAULT);
  expect("FORK channel_out in the channel window", fork_raw(window + 64), -PVM_EFAULT);
  expect("no child was made by a bad FORK", pvm_waitpid(0, 0, 0), -PVM_ECHILD);

  /* A child that has ended: a bad status pointer must not lose its status. */
  long child = pvm_fork(0);
  if (child == 0)
    return 42;
  expect("FORK for the WAITPID checks", child > 0, 1);
  expect("WAITPID of a real child, status outside RAM", waitpid_raw((uint64_t)child, ram + 4096, ~0ULL), -PVM_EFAULT);
  struct pvm_child_status st = { 9, 9 };
  expect("WAITPID of it again, good status", pvm_waitpid((uint64_t)child, &st, ~0ULL), child);
  expect("its status survived", (long)st.kind * 1000 + st.code, 42);

  /* EXEC: the path, argv and the RAM size. The image must stay as it is. */
  static char marker[] = "still the old image";
  static char long_name[4096];
  memset(long_name, 'a', sizeof long_name - 1);
  expect("EXEC path NULL", exec_raw(0, 0, 0), -PVM_EFAULT);
  expect("EXEC path at the end of RAM", exec_raw(ram, 0, 0), -PVM_EFAULT);
  expect("EXEC path at ~0", exec_raw(~0ULL, 0, 0), -PVM_EFAULT);
  expect("EXEC path non-canonical", exec_raw(NONCANONICAL, 0, 0), -PVM_EFAULT);
  expect("EXEC path in the channel window", exec_raw(window, 0, 0), -PVM_EFAULT);
  expect("EXEC path of 4095 bytes", exec_raw((uint64_t)(uintptr_t)long_name, 0, 0), -PVM_EFAULT);
  uint64_t argv_bad[3] = { (uint64_t)(uintptr_t)"hello", 0, 0 };
  expect("EXEC argv at the end of RAM", exec_raw((uint64_t)(uintptr_t)"hello", ram, 0), -PVM_EFAULT);
  expect("EXEC argv in page 0", exec_raw((uint64_t)(uintptr_t)"hello", 8, 0), -PVM_EFAULT);
  expect("EXEC argv non-canonical", exec_raw((uint64_t)(uintptr_t)"hello", NONCANONICAL, 0), -PVM_EFAULT);
  argv_bad[1] = ram + 5;
  expect("EXEC argv[1] outside RAM", exec_raw((uint64_t)(uintptr_t)"hello", (uint64_t)(uintptr_t)argv_bad, 0),
         -PVM_EFAULT);
  argv_bad[1] = 24;
  expect("EXEC argv[1] in page 0", exec_raw((uint64_t)(uintptr_t)"hello", (uint64_t)(uintptr_t)argv_bad, 0),
         -PVM_EFAULT);
  /* An argv with no NULL: a heap array of good pointers, far longer than the args area. */
  size_t n_ptrs = PVM_ARGS_SIZE / 8 + 64;
  uint64_t *unterminated = malloc(n_ptrs * 8);
  for (size_t i = 0; unterminated && i < n_ptrs; i++)
    unterminated[i] = (uint64_t)(uintptr_t)"x";
  expect("EXEC argv with no NULL before the args-area limit",
         exec_raw((uint64_t)(uintptr_t)"hello", (uint64_t)(uintptr_t)unterminated, 0), -PVM_E2BIG);
  free(unterminated);
  /* An argument with no NUL within the args area. */
  size_t huge_len = PVM_ARGS_SIZE + 4096;
  char *huge = malloc(huge_len);
  if (huge)
    memset(huge, 'b', huge_len);
  uint64_t argv_huge[3] = { (uint64_t)(uintptr_t)"hello", (uint64_t)(uintptr_t)huge, 0 };
  expect("EXEC argv[1] longer than the args area",
         exec_raw((uint64_t)(uintptr_t)"hello", (uint64_t)(uintptr_t)argv_huge, 0), -PVM_E2BIG);
  free(huge);
  expect("EXEC RAM 1 TiB", exec_raw((uint64_t)(uintptr_t)"hello", 0, 1ULL << 40), -PVM_EINVAL);
  expect("EXEC RAM ~0", exec_raw((uint64_t)(uintptr_t)"hello", 0, ~0ULL), -PVM_EINVAL);
  expect("EXEC RAM 1 byte", exec_raw((uint64_t)(uintptr_t)"hello", 0, 1), -PVM_EINVAL);
  expect("the old image is untouched", strcmp(marker, "still the old image"), 0);

  /* SHM_CREATE: the size. */
  expect("SHM_CREATE size ~0", pvm_hypercall1(PVM_HC_SHM_CREATE, (long)opaque(~0ULL)), -PVM_EINVAL);
  expect("SHM_CREATE size 2^63", pvm_hypercall1(PVM_HC_SHM_CREATE, (long)opaque(1ULL << 63)), -PVM_EINVAL);
  expect("SHM_CREATE size 2^32 + 4096", pvm_hypercall1(PVM_HC_SHM_CREATE, (long)opaque((1ULL << 32) + 4096)),
         -PVM_EINVAL);
  expect("SHM_CREATE size slot + 1", pvm_hypercall1(PVM_HC_SHM_CREATE, (long)opaque(PVM_CHANNEL_SLOT_SIZE + 1)),
         -PVM_EINVAL);

  /* Channel calls: lengths and buffers on a real channel (a child that says "hello"). */
  uint32_t ch;
  child = pvm_fork(&ch);
  if (child == 0) {
    pvm_channel_send(ch, "hello", 5);
    char b[8];
    pvm_channel_recv(ch, b, sizeof b); /* until the parent closes */
    return 0;
  }
  expect("FORK with a channel", child > 0, 1);
  static char big[PVM_CHANNEL_MAX_MESSAGE + 1];
  expect("send of MAX_MESSAGE + 1 bytes", pvm_channel_try_send(ch, big, sizeof big), -PVM_EMSGSIZE);
  expect("send of ~0 bytes", pvm_channel_try_send(ch, big, ~(size_t)0), -PVM_EMSGSIZE);
  char small[2];
  expect("recv into a buffer too small", pvm_channel_recv(ch, small, sizeof small), -PVM_EMSGSIZE);
  char fits[8];
  expect("then recv the same message", pvm_channel_recv(ch, fits, sizeof fits), 5);
  expect("channel wait on 129 slots", pvm_channel_wait(&ch, PVM_CHANNEL_SLOTS + 1, 0), -PVM_EINVAL);
  expect("close the channel", pvm_channel_close(ch), 0);
  expect("WAITPID it", pvm_waitpid((uint64_t)child, &st, ~0ULL), child);

  /* Everything still works: a normal fork, channel round trip and wait. */
  child = pvm_fork(&ch);
  if (child == 0) {
    char b[16];
    long n = pvm_channel_recv(ch, b, sizeof b);
    pvm_channel_send(ch, b, n > 0 ? (size_t)n : 0);
    return 7;
  }
  pvm_channel_send(ch, "again", 5);
  expect("a round trip after all that", pvm_channel_recv(ch, fits, sizeof fits), 5);
  pvm_channel_close(ch);
  expect("and a last WAITPID", pvm_waitpid((uint64_t)child, &st, ~0ULL) == child && st.code == 7, 1);
  return summary("badptr");
}

static long notify_raw(uint64_t slot) { return pvm_hypercall1(PVM_HC_NOTIFY, (long)opaque(slot)); }
static long close_raw(uint64_t slot) { return pvm_hypercall1(PVM_HC_CLOSE, (long)opaque(slot)); }

static int mode_badid(void)
{
  /* An open channel in some slot s: ids that are s modulo 2^32 must not reach it. */
  uint32_t ch;
  long child = pvm_fork(&ch);
  if (child == 0) {
    char b[8];
    while (pvm_channel_recv(ch, b, sizeof b) >= 0) /* until the parent closes */
      ;
    return 0;
  }
  expect("FORK with a channel", child > 0, 1);
  uint64_t high = (1ULL << 32) | ch;
  expect("NOTIFY slot + 2^32", notify_raw(high), -PVM_EBADF);
  expect("CLOSE slot + 2^32", close_raw(high), -PVM_EBADF);
  expect("NOTIFY slot + 2^63", notify_raw((1ULL << 63) | ch), -PVM_EBADF);
  expect("CLOSE slot + 2^63", close_raw((1ULL << 63) | ch), -PVM_EBADF);
  expect("the channel is still open", pvm_channel_is_open(ch), 1);
  expect("NOTIFY slot 128", notify_raw(PVM_CHANNEL_SLOTS), -PVM_EBADF);
  expect("NOTIFY slot ~0", notify_raw(~0ULL), -PVM_EBADF);
  expect("NOTIFY slot 0xffffffff", notify_raw(0xffffffffULL), -PVM_EBADF);
  expect("CLOSE slot ~0", close_raw(~0ULL), -PVM_EBADF);
  uint32_t list[3] = { ch, 0xffffffffu, ch };
  expect("WAIT on a good and a 0xffffffff slot", pvm_wait(list, 2, 0), -PVM_EBADF);
  list[1] = PVM_CHANNEL_SLOTS;
  expect("WAIT on a good and slot 128", pvm_wait(list, 2, 0), -PVM_EBADF);
  char b[8];
  expect("send on slot 0xffffffff", pvm_channel_send(0xffffffffu, "x", 1), -PVM_EBADF);
  expect("recv on slot 0xffffffff", pvm_channel_recv(0xffffffffu, b, sizeof b), -PVM_EBADF);

  /* Closed slots. */
  expect("close the channel", pvm_channel_close(ch), 0);
  expect("close it again", pvm_channel_close(ch), -PVM_EBADF);
  expect("NOTIFY a closed slot", notify_raw(ch), -PVM_EBADF);
  uint32_t one = ch;
  expect("WAIT on a closed slot", pvm_wait(&one, 1, 0), -PVM_EBADF);
  expect("send on a closed slot", pvm_channel_send(ch, "x", 1), -PVM_EBADF);
  expect("try_send on a closed slot", pvm_channel_try_send(ch, "x", 1), -PVM_EBADF);
  expect("recv on a closed slot", pvm_channel_recv(ch, b, sizeof b), -PVM_EBADF);
  expect("try_recv on a closed slot", pvm_channel_try_recv(ch, b, sizeof b), -PVM_EBADF);
  expect("recv_timeout on a closed slot", pvm_channel_recv_timeout(ch, b, sizeof b, 1000000), -PVM_EBADF);
  expect("channel_wait on a closed slot", pvm_channel_wait(&one, 1, 0), -PVM_EBADF);
  expect("WAITPID the child", pvm_waitpid((uint64_t)child, 0, ~0ULL), child);

  /* A shared-memory slot is no channel. */
  long shm = pvm_shm_create(4096);
  expect("SHM_CREATE", shm >= 0, 1);
  uint32_t s = (uint32_t)shm;
  expect("NOTIFY a shared-memory slot", notify_raw(s), -PVM_EBADF);
  expect("WAIT on a shared-memory slot", pvm_wait(&s, 1, 0), -PVM_EBADF);
  expect("send on a shared-memory slot", pvm_channel_send(s, "x", 1), -PVM_EBADF);
  expect("recv on a shared-memory slot", pvm_channel_try_recv(s, b, sizeof b), -PVM_EBADF);
  expect("CLOSE the shared-memory slot", close_raw(s), 0);
  expect("CLOSE it again", close_raw(s), -PVM_EBADF);

  /* Every slot taken by shared memory: FORK wanting a channel gets EAGAIN, not a crash. */
  long made = 0, r;
  while ((r = pvm_shm_create(4096)) >= 0)
    made++;
  expect("SHM_CREATE until no slot is left", r, -PVM_EAGAIN);
  expect("all 128 slots were had", made, PVM_CHANNEL_SLOTS);
  expect("FORK with a channel and no free slot", pvm_fork(&ch), -PVM_EAGAIN);
  for (uint32_t i = 0; i < PVM_CHANNEL_SLOTS; i++)
    close_raw(i);
  expect("a slot is free again", pvm_shm_create(4096) >= 0, 1);
  return summary("badid");
}

static int mode_flood(unsigned long n)
{
  uint64_t id = pvm_id();
  uint64_t t0 = pvm_time_ns(), last = t0;
  for (unsigned long i = 0; i < n; i++) {
    switch (i % 5) {
      case 0:
        if (pvm_getid() != id) {
          printf("flood: GETID gave a wrong id at %lu\n", i);
          return 1;
        }
        break;
      case 1: {
        uint64_t t = pvm_time_ns();
        if (t < last) {
          printf("flood: TIME went back at %lu\n", i);
          return 1;
        }
        last = t;
        break;
      }
      case 2: pvm_hypercall0(PVM_HC_CONSOLE_FLUSH); break;
      case 3: pvm_hypercall0(PVM_HC_SIGNALS); break;
      case 4:
        if (pvm_notify(PVM_CHANNEL_SLOTS - 1) != -PVM_EBADF) {
          printf("flood: NOTIFY of a free slot did not fail at %lu\n", i);
          return 1;
        }
        break;
    }
  }
  uint64_t t1 = pvm_time_ns();
  printf("flood: %lu hypercalls in %llu ms\n", n, (unsigned long long)((t1 - t0) / 1000000));
  return 0;
}

static int mode_notifyflood(unsigned long n)
{
  printf("notifyflood: ready\n");
  pvm_console_flush();
  long slot = pvm_channel_accept(0, ~0ULL);
  if (slot < 0) {
    printf("notifyflood: accept: %s\n", pvm_strerror(slot));
    return 1;
  }
  for (unsigned long i = 0; i < n; i++) {
    long r = pvm_notify((uint32_t)slot);
    if (r != 0) {
      printf("notifyflood: NOTIFY %lu: %s\n", i, pvm_strerror(r));
      return 1;
    }
  }
  char msg[64];
  int len = snprintf(msg, sizeof msg, "done %lu", n);
  pvm_channel_send((uint32_t)slot, msg, (size_t)len);
  return 0;
}

static void reload_cr3(void)
{
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

static int mode_pagetables(const char *how)
{
  printf("pagetables: about to %s\n", how);
  pvm_console_flush();
  volatile uint64_t *pml4 = (volatile uint64_t *)(uintptr_t)opaque(PVM_PAGE_TABLES_GPA);
  if (!strcmp(how, "zero")) {
    for (int i = 0; i < 512; i++)
      pml4[i] = 0;
  } else if (!strcmp(how, "random")) {
    /* The PDPT and the first page directory, which map all of RAM. */
    volatile uint64_t *tables = pml4 + 512;
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ pvm_id();
    for (int i = 0; i < 2 * 512; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      tables[i] = x;
    }
  } else if (!strcmp(how, "monitor")) {
    long child = pvm_fork(0);
    if (child == 0)
      pvm_exit(0);
    /* The monitor writes the status {kind 0, code 0} over PML4[0]. */
    long r = waitpid_raw((uint64_t)child, PVM_PAGE_TABLES_GPA, ~0ULL);
    if (r != child)
      printf("pagetables: waitpid gave %ld\n", r);
  } else {
    printf("pagetables: unknown way %s\n", how);
    return 2;
  }
  reload_cr3();
  printf("pagetables: still alive\n");
  return 3;
}

static int mode_spin(void)
{
  printf("spin: ready\n");
  pvm_console_flush();
  for (;;)
    __asm__ volatile("");
  __builtin_unreachable();
}

static int mode_bomb(int depth, int fan)
{
  int level = 0;
  for (;;) {
    if (level >= depth)
      break;
    int forked = 0;
    for (int i = 0; i < fan; i++) {
      long r = pvm_fork(0);
      if (r == 0) {
        forked = -1;
        break;
      }
      if (r > 0)
        forked++;
    }
    if (forked < 0) { /* a child: one level down, and bomb on */
      level++;
      continue;
    }
    break;
  }
  if (level == 0) {
    /* The root: fork children that exit at once until FORK refuses with EAGAIN (other
     * failures are counted and tried again, a bounded number of times). */
    long n = fan, other = 0, r;
    for (;;) {
      r = pvm_fork(0);
      if (r == 0)
        pvm_exit(0);
      if (r == -PVM_EAGAIN || other > 1000)
        break;
      if (r < 0)
        other++;
      else
        n++;
    }
    printf("bomb: limit after %ld children: %s\n", n, pvm_strerror(r));
    printf("bomb: %ld other failures\n", other);
    printf("bomb: ready\n");
    pvm_console_flush();
  }
  for (;;)
    pvm_wait(0, 0, ~0ULL);
}

static int mode_memhog(void)
{
  struct block {
    struct block *next;
    size_t size;
  } *blocks = 0;
  size_t total = 0, size = 1 << 20;
  while (size >= 64) {
    struct block *b = malloc(size);
    if (!b) {
      size /= 2;
      continue;
    }
    b->next = blocks;
    b->size = size;
    blocks = b;
    total += size;
  }
  /* Every page of every block, then check them. */
  for (struct block *b = blocks; b; b = b->next) {
    volatile unsigned char *p = (volatile unsigned char *)b;
    for (size_t off = sizeof *b; off < b->size; off += 4096)
      p[off] = (unsigned char)(off >> 12);
    p[b->size - 1] = 0x5a;
  }
  for (struct block *b = blocks; b; b = b->next) {
    volatile unsigned char *p = (volatile unsigned char *)b;
    for (size_t off = sizeof *b; off < b->size; off += 4096) {
      if (p[off] != (unsigned char)(off >> 12) || p[b->size - 1] != 0x5a) {
        printf("memhog: block at %p changed\n", (void *)b);
        return 1;
      }
    }
  }
  struct pvm_heap_stats st;
  pvm_heap_stats(&st);
  printf("memhog: %zu KiB of a %llu KiB heap, all touched\n", total >> 10,
         (unsigned long long)((st.heap_end - st.heap_start) >> 10));
  return 0;
}

static int mode_execargs(void)
{
  /* One argument as long as the args area, and as many pointers to it as EXEC reads. */
  size_t len = PVM_ARGS_SIZE - 16;
  char *arg = malloc(len + 1);
  size_t n = PVM_ARGS_SIZE / 8;
  uint64_t *argv = malloc((n + 1) * 8);
  if (!arg || !argv) {
    printf("execargs: malloc failed\n");
    return 1;
  }
  memset(arg, 'x', len);
  arg[len] = 0;
  argv[0] = (uint64_t)(uintptr_t)"hostile";
  for (size_t i = 1; i < n; i++)
    argv[i] = (uint64_t)(uintptr_t)arg;
  argv[n] = 0;
  uint64_t t0 = pvm_time_ns();
  long r = exec_raw((uint64_t)(uintptr_t)"hostile", (uint64_t)(uintptr_t)argv, 0);
  uint64_t t1 = pvm_time_ns();
  printf("execargs: %s after %llu ms\n", pvm_strerror(r), (unsigned long long)((t1 - t0) / 1000000));
  pvm_console_flush();
  for (;;) /* until the host has looked at the monitor and ends this */
    pvm_wait(0, 0, ~0ULL);
}

static int mode_execram(uint64_t mib)
{
  char *argv[] = { "hostile", "ram", 0 };
  long r = pvm_exec("hostile", argv, mib << 20);
  printf("execram: %s\n", pvm_strerror(r));
  return 1;
}

static int mode_spew(unsigned long mib)
{
  static char line[1024];
  memset(line, 'z', sizeof line - 1);
  line[sizeof line - 1] = '\n';
  for (unsigned long i = 0; i < mib * 1024; i++)
    pvm_console_write(line, sizeof line);
  printf("spew: done\n");
  return 0;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  const char *arg = argc > 2 ? argv[2] : "";
  if (!strcmp(mode, "badptr")) return mode_badptr();
  if (!strcmp(mode, "badid")) return mode_badid();
  if (!strcmp(mode, "flood")) return mode_flood(argc > 2 ? strtoul(arg, 0, 10) : 200000);
  if (!strcmp(mode, "notifyflood")) return mode_notifyflood(argc > 2 ? strtoul(arg, 0, 10) : 100000);
  if (!strcmp(mode, "pagetables")) return mode_pagetables(arg);
  if (!strcmp(mode, "spin")) return mode_spin();
  if (!strcmp(mode, "bomb")) return mode_bomb(argc > 2 ? atoi(arg) : 3, argc > 3 ? atoi(argv[3]) : 8);
  if (!strcmp(mode, "memhog")) return mode_memhog();
  if (!strcmp(mode, "execargs")) return mode_execargs();
  if (!strcmp(mode, "execram")) return mode_execram(argc > 2 ? strtoull(arg, 0, 10) : 1024);
  if (!strcmp(mode, "ram")) {
    printf("ram: %llu MiB\n", (unsigned long long)(pvm_ram_size() >> 20));
    return 0;
  }
  if (!strcmp(mode, "spew")) return mode_spew(argc > 2 ? strtoul(arg, 0, 10) : 16);
  printf("usage: hostile badptr|badid|flood <n>|notifyflood <n>|pagetables zero|random|monitor|spin|"
         "bomb <depth> <fan>|memhog|execargs|execram <MiB>|spew <MiB>\n");
  return 2;
}
