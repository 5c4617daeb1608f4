/* Small stdlib pieces: abs() family, rand()/srand(). */
#include <pvm.h>
#include <stdlib.h>

int abs(int x) { return x < 0 ? -x : x; }
long labs(long x) { return x < 0 ? -x : x; }
long long llabs(long long x) { return x < 0 ? -x : x; }

/* xorshift64*: small, fast, good enough for tests and load generators. Seeded from the
 * boot-info page's entropy, and seeded again whenever its generation changes (this pVM is
 * a new clone: a fork child), so that clones of one parent draw different numbers; a
 * guest that called srand() keeps its own sequence. */
static unsigned long long rand_state;
static unsigned long long seeded_generation;
static int seeded, user_seeded;

void srand(unsigned seed)
{
  rand_state = 0x9e3779b97f4a7c15ULL ^ ((unsigned long long)seed * 0xbf58476d1ce4e5b9ULL);
  if (!rand_state)
    rand_state = 1;
  user_seeded = 1;
}

static void seed_from_boot(void)
{
  const volatile struct pvm_boot_info *boot = (const volatile struct pvm_boot_info *)(uintptr_t)PVM_BOOT_INFO_GPA;
  unsigned long long generation = boot->generation;
  if (user_seeded || (seeded && generation == seeded_generation))
    return;
  rand_state = boot->entropy[0] ^ boot->entropy[1] ^ (boot->entropy[2] << 1) ^ (boot->entropy[3] >> 1);
  if (!rand_state)
    rand_state = 0x9e3779b97f4a7c15ULL;
  seeded_generation = generation;
  seeded = 1;
}

int rand(void)
{
  seed_from_boot();
  unsigned long long x = rand_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rand_state = x;
  return (int)((x * 0x2545f4914f6cdd1dULL) >> 33);
}
