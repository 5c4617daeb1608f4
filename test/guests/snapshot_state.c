/*
 * snapshot_state <MiB>: a guest with state worth a snapshot (test/snapshot.test.ts,
 * bench/snapshot.ts). Fills MiB of heap with a pattern and sets a counter, prints
 * "built sum=<h> counter=<c>", then serves the host for ever: accepts a channel and answers
 * commands on it, one per message, until the channel ends; then accepts the next one (a
 * pVM spawned from a snapshot has no channels: it accepts a new one).
 *   "check"   -> "sum=<h> counter=<c> gen=<g> rand=<r> id=<id>"
 *   "write B" -> fills the buffer with byte B, counter + 1 -> "wrote"
 *   "exit"    -> exits 0
 */
#include <pvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t counter = 1; /* .data */
static unsigned char *buf;
static size_t size;

static uint64_t fnv(const unsigned char *p, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i += 8) /* every 8th byte: every page, and quick */
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static void serve(uint32_t slot)
{
  char in[64], out[160];
  for (;;) {
    long n = pvm_channel_recv(slot, in, sizeof in - 1);
    if (n < 0)
      break; /* the end of this channel */
    in[n] = 0;
    if (strcmp(in, "check") == 0) {
      int len = snprintf(out, sizeof out, "sum=%llu counter=%llu gen=%llu rand=%d id=%llu",
                         (unsigned long long)fnv(buf, size), (unsigned long long)counter,
                         (unsigned long long)pvm_boot_info()->generation, rand(), (unsigned long long)pvm_id());
      pvm_channel_send(slot, out, (size_t)len);
    } else if (strncmp(in, "write ", 6) == 0) {
      memset(buf, atoi(in + 6), size);
      counter++;
      pvm_channel_send(slot, "wrote", 5);
    } else if (strcmp(in, "exit") == 0) {
      exit(0);
    }
  }
  pvm_channel_close(slot);
}

int main(int argc, char **argv)
{
  size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 8;
  size = mib << 20;
  buf = malloc(size);
  if (!buf) {
    printf("snapshot_state: malloc failed\n");
    return 2;
  }
  for (size_t i = 0; i < size; i++)
    buf[i] = (unsigned char)(i * 31 + 7 + (i >> 12));
  counter = 41 + mib;
  printf("built sum=%llu counter=%llu\n", (unsigned long long)fnv(buf, size), (unsigned long long)counter);
  pvm_console_flush();
  for (;;) {
    long slot = pvm_channel_accept(0, ~0ULL);
    if (slot >= 0)
      serve((uint32_t)slot);
  }
}
