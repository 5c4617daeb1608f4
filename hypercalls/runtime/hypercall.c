/*
 * The hypercall transport (abi.json "hypercall"): the only code in an image that knows
 * how a hypercall reaches the monitor. Number and arguments go into this vCPU's
 * argument block at a fixed guest-physical address, one 4-byte port write names the
 * block, the monitor writes the result back into it. Out of line on purpose: a
 * transport change is a relink of the runtime, not a rebuild of every image.
 */
#include <pvm.h>

/* The one vCPU's block. volatile: the monitor reads and writes it behind the compiler. */
#define BLOCK ((volatile struct pvm_hc_block *)(uintptr_t)PVM_HC_BLOCK_GPA)

/* Where the monitor is an ordinary call away (the process backend), the boot-info page
 * names the function to call instead of the port write: read at every call, since the
 * monitor may change it (a fork, an exec). */
typedef void (*pvm_entry_fn)(uint64_t value, uint64_t port);
static inline pvm_entry_fn entry(void)
{
  return (pvm_entry_fn)(uintptr_t)((volatile struct pvm_boot_info *)(uintptr_t)PVM_BOOT_INFO_GPA)->hypercall_entry;
}

uint64_t pvm_hypercall_count;

/* The doorbell. "memory": the block and whatever the arguments point at must be in
 * RAM before the write, and everything the monitor wrote is re-read after it. */
static inline void ring(void)
{
  pvm_hypercall_count++;
  pvm_entry_fn call = entry();
  if (call) {
    call(PVM_HC_BLOCK_GPA, PVM_HC_PORT);
    __asm__ volatile("" : : : "memory");
    return;
  }
  __asm__ volatile("outl %%eax, %[port]"
                   :
                   : "a"((uint32_t)PVM_HC_BLOCK_GPA), [port] "N"(PVM_HC_PORT)
                   : "memory");
}

long pvm_hypercall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
  volatile struct pvm_hc_block *b = BLOCK;
  b->nr = (uint32_t)nr;
  b->flags = 0;
  b->args[0] = (uint64_t)a0;
  b->args[1] = (uint64_t)a1;
  b->args[2] = (uint64_t)a2;
  b->args[3] = (uint64_t)a3;
  b->args[4] = (uint64_t)a4;
  b->args[5] = (uint64_t)a5;
  ring();
  return (long)b->result;
}

/* The shorter forms write only the arguments they have: a hypercall uses only its own
 * (abi.json lists them), so what the other slots hold does not matter. */
long pvm_hypercall0(long nr)
{
  BLOCK->nr = (uint32_t)nr;
  BLOCK->flags = 0;
  ring();
  return (long)BLOCK->result;
}

long pvm_hypercall1(long nr, long a0)
{
  BLOCK->args[0] = (uint64_t)a0;
  return pvm_hypercall0(nr);
}

long pvm_hypercall2(long nr, long a0, long a1)
{
  BLOCK->args[1] = (uint64_t)a1;
  return pvm_hypercall1(nr, a0);
}

long pvm_hypercall3(long nr, long a0, long a1, long a2)
{
  BLOCK->args[2] = (uint64_t)a2;
  return pvm_hypercall2(nr, a0, a1);
}

long pvm_hypercall4(long nr, long a0, long a1, long a2, long a3)
{
  BLOCK->args[3] = (uint64_t)a3;
  return pvm_hypercall3(nr, a0, a1, a2);
}

long pvm_hypercall5(long nr, long a0, long a1, long a2, long a3, long a4)
{
  BLOCK->args[4] = (uint64_t)a4;
  return pvm_hypercall4(nr, a0, a1, a2, a3);
}

void pvm_transport_floor(void)
{
  pvm_hypercall_count++;
  pvm_entry_fn call = entry();
  if (call) {
    call(0, PVM_HC_FLOOR_PORT);
    return;
  }
  __asm__ volatile("outl %%eax, %[port]" : : "a"(0u), [port] "N"(PVM_HC_FLOOR_PORT) : "memory");
}
