// The pooled monitor's warm-up stub (warm_up.cc), assembled into the monitor as bytes
// that warm_up.cc copies into guest RAM. Position-independent. In: rsi = first byte,
// rdx = end of a range. Writes a zero to each 4 KiB page of it, then leaves the guest
// with a write to the floor port (a Hypercall exit that names no argument block).
#include "pvm/abi.h"

  .section .rodata.pvm_kvm_warm_up, "a"
  .globl pvm_kvm_warm_up_stub
  .globl pvm_kvm_warm_up_stub_end
pvm_kvm_warm_up_stub:
1:
  movb $0, (%rsi)
  add $4096, %rsi
  cmp %rdx, %rsi
  jb 1b
  out %eax, $PVM_HC_FLOOR_PORT
pvm_kvm_warm_up_stub_end:

  .section .note.GNU-stack, "", @progbits
