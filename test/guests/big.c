/*
 * big: a 64 MiB zero-initialised static array (.bss), so the image needs more memory
 * than a 16 MiB pVM has (the monitor must refuse to load it) and runs fine with
 * 128 MiB. Touches a few bytes, checks they started at zero; prints "big ok" and exits 0.
 */
#include <stdint.h>
#include <stdio.h>

#define BIG_SIZE (64u << 20)
static volatile unsigned char big[BIG_SIZE];

int main(void)
{
  const uint32_t probes[] = { 0, 4096, BIG_SIZE / 2, BIG_SIZE - 4096, BIG_SIZE - 1 };
  for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    if (big[probes[i]] != 0) {
      printf("big: byte %u not zero\n", probes[i]);
      return 1;
    }
    big[probes[i]] = (unsigned char)(i + 1);
  }
  for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++)
    if (big[probes[i]] != (unsigned char)(i + 1)) {
      printf("big: byte %u lost its value\n", probes[i]);
      return 1;
    }
  printf("big ok %u MiB at %p\n", BIG_SIZE >> 20, (void *)big);
  return 0;
}
