/* The Linux personality (hypercalls/linux/), flattened by the build: linux_personality.cc
   copies it into guest RAM. PVM_LINUX_BLOB_PATH comes from CMakeLists.txt. */
        .section .rodata
        .balign 16
        .globl pvm_linux_blob_start, pvm_linux_blob_end
pvm_linux_blob_start:
        .incbin PVM_LINUX_BLOB_PATH
pvm_linux_blob_end:
        .section .note.GNU-stack, "", @progbits
