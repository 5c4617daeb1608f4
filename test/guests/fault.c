/*
 * fault: argv[1] picks a way to die; prints "about to fault: <kind>" first, so a test
 * can check that output written just before a fault reaches the host.
 *   null       read from address 0 (page 0 is not mapped)
 *   wild       write 64 MiB above the end of RAM
 *   ud         ud2 (invalid opcode)
 *   div0       integer division by zero
 *   hypercall  hypercall number 9999 (must end the pVM; if the monitor returns instead,
 *              prints "hypercall returned <r>" and exits 3)
 *   badblock   ring the hypercall port with a value that names no argument block
 *   hcbyte     a 1-byte write to the hypercall port (bad port I/O)
 *   gp         access a non-canonical address (#GP)
 *   stack      unbounded recursion until the stack runs off its bottom
 *   triple     load a zero-limit IDT, then int3 (exception -> triple fault)
 * An unknown kind prints the list and exits 2.
 */
#include <pvm.h>
#include <stdio.h>
#include <string.h>

/* Hide a value from the optimiser, so it cannot prove a fault and rewrite it. */
static uint64_t opaque(uint64_t v)
{
  __asm__ volatile("" : "+r"(v));
  return v;
}

static unsigned long depth;

__attribute__((noinline)) static unsigned long recurse(unsigned long n)
{
  volatile char frame[512];
  if (n == 0) /* never: n starts at 1 and only grows until the stack runs out */
    return 0;
  frame[0] = (char)n;
  frame[sizeof frame - 1] = (char)n;
  depth = n;
  return recurse(n + 1) + frame[0]; /* not a tail call */
}

int main(int argc, char **argv)
{
  const char *kind = argc > 1 ? argv[1] : "";
  static const char *const kinds[] = { "null", "wild", "ud", "div0", "hypercall", "badblock", "hcbyte",
                                       "gp", "stack", "triple" };
  int known = 0;
  for (unsigned i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    known |= strcmp(kind, kinds[i]) == 0;
  if (!known) {
    printf("usage: fault null|wild|ud|div0|hypercall|badblock|hcbyte|gp|stack|triple\n");
    return 2;
  }

  printf("about to fault: %s\n", kind);
  __asm__ volatile("" ::: "memory");

  if (!strcmp(kind, "null")) {
    volatile int *p = (volatile int *)(uintptr_t)opaque(0);
    printf("read %d\n", *p);
  } else if (!strcmp(kind, "wild")) {
    volatile uint64_t *p =
        (volatile uint64_t *)(uintptr_t)opaque(pvm_ram_size() + (64ULL << 20));
    *p = 0xdeadbeef;
  } else if (!strcmp(kind, "ud")) {
    __asm__ volatile("ud2");
  } else if (!strcmp(kind, "div0")) {
    volatile int a = 1, b = 0;
    printf("quotient %d\n", a / b);
  } else if (!strcmp(kind, "hypercall")) {
    long r = pvm_hypercall0(9999);
    printf("hypercall returned %ld (%s)\n", r, pvm_strerror(r));
    return 3;
  } else if (!strcmp(kind, "badblock")) {
    /* The doorbell with a value that names no argument block (the block's address + 8). */
    __asm__ volatile("outl %%eax, %[port]" : : "a"((uint32_t)opaque(PVM_HC_BLOCK_GPA + 8)), [port] "N"(PVM_HC_PORT) : "memory");
  } else if (!strcmp(kind, "hcbyte")) {
    /* A 1-byte write to the doorbell: not a hypercall (they are 4-byte writes). */
    __asm__ volatile("outb %%al, %[port]" : : "a"((uint8_t)0), [port] "N"(PVM_HC_PORT) : "memory");
  } else if (!strcmp(kind, "gp")) {
    volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)opaque(0x8000000000000000ULL);
    printf("read %llu\n", (unsigned long long)*p);
  } else if (!strcmp(kind, "stack")) {
    printf("returned %lu\n", recurse(1));
  } else if (!strcmp(kind, "triple")) {
    struct __attribute__((packed)) {
      uint16_t limit;
      uint64_t base;
    } idtr = { 0, 0 };
    __asm__ volatile("lidt %0\n\tint3" : : "m"(idtr) : "memory");
  }
  printf("still alive after %s (depth %lu)\n", kind, depth);
  return 4;
}
