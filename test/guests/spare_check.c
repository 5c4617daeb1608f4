/*
 * spare_check <MiB> <rewrite MiB> <rounds>: the correctness check for forks through a
 * warm spare. Fills MiB of memory, then each round: sleeps a little (the monitor makes a
 * spare meanwhile), rewrites `rewrite MiB` at pseudo-random pages, hashes the whole
 * buffer and its own .data/.bss, forks; the child hashes the same memory before it
 * writes anything and sends the hash back. Prints "spare_check ok <rounds>" if every
 * child saw the parent's memory byte for byte, else the first mismatch.
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t counter = 12345; /* in .data: changes every round */
static unsigned char scratch[256 << 10]; /* in .bss: rewritten every round */

static uint64_t fnv(const unsigned char *p, size_t n, uint64_t h)
{
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static uint64_t next(void)
{
  counter = counter * 6364136223846793005ULL + 1442695040888963407ULL;
  return counter >> 17;
}

int main(int argc, char **argv)
{
  size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 24;
  size_t rewrite = argc > 2 ? strtoul(argv[2], 0, 10) : 4;
  int rounds = argc > 3 ? atoi(argv[3]) : 3;
  size_t size = mib << 20;
  unsigned char *buf = malloc(size);
  if (!buf) {
    printf("spare_check: malloc failed\n");
    return 2;
  }
  for (size_t i = 0; i < size; i++)
    buf[i] = (unsigned char)(i * 31 + 7);
  for (int r = 0; r < rounds; r++) {
    pvm_wait(0, 0, 30000000); /* 30 ms: a spare gets made */
    for (size_t k = 0; k < (rewrite << 20) / 4096; k++) {
      size_t page = next() % (size / 4096);
      memset(buf + page * 4096, (int)(next() & 0xff), 4096);
    }
    for (size_t i = 0; i < sizeof scratch; i += 512)
      scratch[i] = (unsigned char)next();
    uint64_t h = fnv(buf, size, 0xcbf29ce484222325ULL);
    h = fnv(scratch, sizeof scratch, h);
    h = fnv((const unsigned char *)&counter, sizeof counter, h);
    uint32_t ch;
    long child = pvm_fork(&ch);
    if (child == 0) {
      uint64_t mine = fnv(buf, size, 0xcbf29ce484222325ULL);
      mine = fnv(scratch, sizeof scratch, mine);
      mine = fnv((const unsigned char *)&counter, sizeof counter, mine);
      pvm_channel_send(ch, &mine, sizeof mine);
      return 0;
    }
    if (child < 0) {
      printf("spare_check: fork failed: %s\n", pvm_strerror(child));
      return 2;
    }
    uint64_t theirs = 0;
    long n = pvm_channel_recv(ch, &theirs, sizeof theirs);
    if (n != sizeof theirs || theirs != h) {
      printf("spare_check: round %d: child hash %llx, parent %llx (recv %ld)\n", r, (unsigned long long)theirs,
             (unsigned long long)h, n);
      return 1;
    }
    pvm_channel_close(ch);
    pvm_waitpid(child, 0, ~0ULL);
  }
  printf("spare_check ok %d\n", rounds);
  return 0;
}
