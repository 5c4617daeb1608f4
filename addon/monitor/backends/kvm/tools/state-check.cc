// state-check: a by-hand test of KvmBackend::SaveState / Rebuild / RestoreState, the
// pieces fork is to be built from (not part of the build). Boots an image in-process,
// runs it to its `at`-th hypercall, saves the vCPU state and then either
//   rebuild: drops the VM and vCPU, builds new ones over the same RAM, restores, goes on;
//   fork:    fork(2)s; the child rebuilds and restores, the parent just goes on;
// and prints the console and how each copy ended, with the time each step took.
//
//   g++ -std=c++20 -O2 -I build/generated -I addon addon/monitor/backends/kvm/tools/state-check.cc
//       $(ls addon/monitor/*.cc | grep -v main.cc) addon/monitor/backends/kvm/*.{cc,S}
//       addon/common/*.cc -o /tmp/state-check
//   /tmp/state-check rebuild|fork <at> image [guest args...]
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <vector>

#include "monitor/boot_setup.h"
#include "monitor/clock.h"
#include "monitor/elf_loader.h"
#include "monitor/fault.h"
#include "monitor/hypercalls.h"
#include "monitor/image_file.h"
#include "monitor/backends/kvm/kvm_backend.h"
#include "pvm/abi.h"

using namespace pvm;
using namespace pvm::monitor;

namespace {

[[noreturn]] void Die(const char* what, const Failure& why) {
  fprintf(stderr, "%s: %s\n", what, why.message.c_str());
  exit(1);
}

// Prints what the guest added to its console ring since last time.
void DrainConsole(const GuestMemory& ram, uint64_t* tail, const char* who) {
  uint64_t head;
  memcpy(&head, ram.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_CONSOLE_HEAD_OFFSET, 8), 8);
  for (; *tail != head; ++*tail) {
    char c = static_cast<char>(*ram.At(PVM_CONSOLE_GPA + *tail % PVM_CONSOLE_SIZE, 1));
    if (c == '\n') printf(" [%s]", who);
    putchar(c);
  }
  memcpy(ram.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_CONSOLE_TAIL_OFFSET, 8), tail, 8);
  fflush(stdout);
}

// Runs until the guest ends; at hypercall number `at` (counting from 1) calls `hook`.
template <typename Hook>
void RunGuest(KvmBackend* backend, PvmIdentity id, const char* who, long at, Hook hook) {
  uint64_t tail = 0;
  long count = 0;
  Failure why;
  for (;;) {
    VcpuExit exit;
    if (!backend->Run(&exit, &why)) Die("run", why);
    if (exit.kind == VcpuExit::Kind::Interrupted) continue;
    DrainConsole(backend->memory(), &tail, who);
    if (exit.kind != VcpuExit::Kind::Hypercall) {
      printf("[%s] fault: %s\n", who, DescribeFault(exit, backend->memory().size()).reason);
      return;
    }
    HypercallResult r = HandleHypercall(exit, id, backend->memory());
    if (r.ends) {
      printf("[%s] %s code %d after %ld hypercalls, %llu exits\n", who,
             r.exit.kind == ctl::ExitKind::Code ? "exit" : r.exit.reason, r.exit.code, count + 1,
             static_cast<unsigned long long>(backend->exit_count()));
      return;
    }
    if (!backend->CompleteHypercall(r.value, &why)) Die("complete", why);
    if (++count == at) hook(&who);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: state-check rebuild|fork <at> image [args...]\n");
    return 2;
  }
  bool fork_mode = strcmp(argv[1], "fork") == 0;
  long at = atol(argv[2]);
  int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror(argv[3]);
    return 1;
  }
  Failure why;
  std::vector<uint8_t> image;
  if (!ReadImage(fd, 64 << 20, &image, &why)) Die("read", why);
  KvmBackend backend;
  if (!backend.Create(64 << 20, &why)) Die("create", why);
  LoadedImage loaded;
  if (!LoadElf(image, backend.memory().span(), &loaded, &why)) Die("load", why);
  BootParams params;
  params.id = 7;
  for (int i = 3; i < argc; i++) params.args.emplace_back(argv[i]);
  EntryState entry;
  if (!SetUpBoot(backend.memory().span(), loaded, params, &entry, &why)) Die("boot", why);
  if (!backend.SetEntryState(entry, &why)) Die("entry", why);
  printf("kvm_pvm=%d\n", backend.software_flavour() ? 1 : 0);

  RunGuest(&backend, {7, 0}, "parent", at, [&](const char** who) {
    uint64_t t0 = MonotonicNs();
    auto state = backend.SaveState(&why);
    if (!state) Die("save", why);
    uint64_t t1 = MonotonicNs();
    if (fork_mode) {
      fflush(stdout);
      pid_t pid = fork();
      uint64_t t2 = MonotonicNs();
      if (pid < 0) Die("fork", why);
      if (pid > 0) {
        printf("[parent] save %.0fus, fork %.0fus\n", (t1 - t0) / 1e3, (t2 - t1) / 1e3);
        return;
      }
      *who = "child";
    }
    if (!backend.RebuildAfterFork(&why)) Die("rebuild", why);
    uint64_t t3 = MonotonicNs();
    if (!backend.RestoreState(*state, &why)) Die("restore", why);
    uint64_t t4 = MonotonicNs();
    printf("[%s] save %.0fus, rebuild %.0fus, restore %.0fus\n", *who, (t1 - t0) / 1e3, (t3 - t1) / 1e3,
           (t4 - t3) / 1e3);
  });
  if (fork_mode) {
    int status;
    while (wait(&status) > 0) {
    }
  }
  return 0;
}
