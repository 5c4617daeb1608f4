#include "monitor/clone_identity.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "monitor/clock.h"
#include "pvm/abi.h"

namespace pvm::monitor {

void FreshEntropy(uint64_t out[4]) {
  uint8_t* bytes = reinterpret_cast<uint8_t*>(out);
  size_t got = 0;
  while (got < 32) {
    ssize_t n = getrandom(bytes + got, 32 - got, GRND_NONBLOCK);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got < 32) {
    // The pool not ready yet (early boot): still different per clone, if not secret.
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t mix = (static_cast<uint64_t>(t.tv_sec) * 1000000000u + t.tv_nsec) ^ (static_cast<uint64_t>(getpid()) << 40);
    for (int i = 0; i < 4; i++) {
      mix *= 0x9e3779b97f4a7c15ull;
      out[i] ^= mix ^ (mix >> 29);
    }
  }
}

void MakeCloneUnique(Monitor* m, const GuestMemory& ram) {
  uint64_t clock[2] = {m->backend->tsc_khz(), NewClockEpoch()};  // tsc_khz, clock_epoch
  static_assert(PVM_BOOT_INFO_CLOCK_EPOCH_OFFSET == PVM_BOOT_INFO_TSC_KHZ_OFFSET + 8);
  if (uint8_t* at = ram.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_TSC_KHZ_OFFSET, sizeof clock)) {
    std::memcpy(at, clock, sizeof clock);
  }
  if (m->identity.same_clones) return;
  m->identity.generation++;
  uint64_t entropy[4];
  FreshEntropy(entropy);
  if (uint8_t* at = ram.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_GENERATION_OFFSET, 8)) {
    std::memcpy(at, &m->identity.generation, 8);
  }
  if (uint8_t* at = ram.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_ENTROPY_OFFSET, sizeof entropy)) {
    std::memcpy(at, entropy, sizeof entropy);
  }
}

}  // namespace pvm::monitor
