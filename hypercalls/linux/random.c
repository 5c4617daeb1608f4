/* getrandom and AT_RANDOM: a ChaCha20 stream keyed with the boot page's 32 fresh bytes
 * (new at every boot), so nothing is an exit. A fork child has fresh bytes and a new
 * generation in its page: the stream is keyed again, so parent and child differ. */
#include "linux.h"

static uint32_t key[8], counter;
static uint8_t block[64];
static unsigned used = 64;
static uint64_t keyed_generation;

#define ROTL(a, b) (((a) << (b)) | ((a) >> (32 - (b))))
#define QR(a, b, c, d) \
  (a += b, d ^= a, d = ROTL(d, 16), c += d, b ^= c, b = ROTL(b, 12), \
   a += b, d ^= a, d = ROTL(d, 8), c += d, b ^= c, b = ROTL(b, 7))

static void next_block(void)
{
  uint32_t in[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  memcpy(&in[4], key, sizeof key);
  in[12] = counter++;
  uint32_t x[16];
  memcpy(x, in, sizeof x);
  for (int i = 0; i < 10; i++) {
    QR(x[0], x[4], x[8], x[12]); QR(x[1], x[5], x[9], x[13]);
    QR(x[2], x[6], x[10], x[14]); QR(x[3], x[7], x[11], x[15]);
    QR(x[0], x[5], x[10], x[15]); QR(x[1], x[6], x[11], x[12]);
    QR(x[2], x[7], x[8], x[13]); QR(x[3], x[4], x[9], x[14]);
  }
  for (int i = 0; i < 16; i++)
    x[i] += in[i];
  memcpy(block, x, sizeof block);
  used = 0;
}

void linux_random_init(const uint64_t entropy[4])
{
  memcpy(key, entropy, sizeof key);
  counter = 0;
  used = 64;
  keyed_generation = linux_boot->generation;
}

void linux_random(void *buf, size_t len)
{
  if (linux_boot->generation != keyed_generation)
    linux_random_init(linux_boot->entropy);
  uint8_t *p = buf;
  while (len > 0) {
    if (used == 64)
      next_block();
    size_t n = 64 - used < len ? 64 - used : len;
    memcpy(p, block + used, n);
    memset(block + used, 0, n);  /* handed out once */
    used += n;
    p += n;
    len -= n;
  }
}
