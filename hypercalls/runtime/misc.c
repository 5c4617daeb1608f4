/* Small stdlib pieces: abs() family, rand()/srand(). */
#include <stdlib.h>

int abs(int x) { return x < 0 ? -x : x; }
long labs(long x) { return x < 0 ? -x : x; }
long long llabs(long long x) { return x < 0 ? -x : x; }

/* xorshift64*: small, fast, good enough for tests and load generators. */
static unsigned long long rand_state = 0x9e3779b97f4a7c15ULL;

void srand(unsigned seed)
{
  rand_state = 0x9e3779b97f4a7c15ULL ^ ((unsigned long long)seed * 0xbf58476d1ce4e5b9ULL);
  if (!rand_state)
    rand_state = 1;
}

int rand(void)
{
  unsigned long long x = rand_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  rand_state = x;
  return (int)((x * 0x2545f4914f6cdd1dULL) >> 33);
}
