/*
 * The Linux personality's handoff: the one definition shared by the monitor (which
 * copies the personality into guest RAM and fills the program's half) and the
 * personality (hypercalls/linux/, which reads it at its first instruction).
 *
 * The personality is a flat blob linked at PVM_LINUX_RT_GPA, below the image base; this
 * struct is its first bytes. The link fills the personality's half; the monitor the rest.
 */
#ifndef PVM_LINUX_HANDOFF_H
#define PVM_LINUX_HANDOFF_H

#include <stdint.h>

#define PVM_LINUX_RT_GPA 0x100000ull    /* where the blob goes (the image base is above) */
#define PVM_LINUX_RT_LIMIT 0x200000ull  /* its code, data and bss end below this */
#define PVM_LINUX_MAGIC 0x78756e6cu     /* "lnux" */

/* Bits of `flags`. */
#define PVM_LINUX_TRACE_SYSCALLS 1u     /* PVM_TRACE=syscalls: name each unserved call */
#define PVM_LINUX_TRACE_ALL 2u          /* PVM_TRACE=syscalls-all: a line for every call */
#define PVM_LINUX_USER_MODE 4u          /* the guest runs in the host's user mode (process
                                           backend): no MSRs; the backend sends a trapped
                                           `syscall` to syscall_entry; FS/GS by wrfsbase */

struct pvm_linux_handoff {
  /* Written by the link (hypercalls/linux/entry.S). */
  uint32_t magic;
  uint32_t header_size;     /* sizeof(struct pvm_linux_handoff) */
  uint64_t start;           /* the personality's entry: rdi = boot-info page, rsp = stack top */
  uint64_t mem_size;        /* bytes from PVM_LINUX_RT_GPA it occupies, bss included */
  /* Written by the monitor. */
  uint64_t entry;           /* the program's e_entry */
  uint64_t phdr;            /* guest address of its program headers (AT_PHDR), 0 if not loaded */
  uint64_t phnum;           /* AT_PHNUM */
  uint64_t realtime_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC (the TIME hypercall) at boot */
  uint32_t flags;           /* PVM_LINUX_* bits */
  uint32_t call_sites;      /* `syscall` sites the load made calls (0 with PVM_LINUX_REWRITE=off) */
  /* Written by the link. */
  uint64_t call_entry;      /* where a rewritten `syscall` site (`call *%rax`) lands via the
                               sled at VA 0 (addon/monitor/linux_rewrite.h) */
  /* The pVM's files (fs.c): an archive in guest RAM at the top of the heap area, placed
     by the monitor at spawn (the `files` spawn option) and at exec (from the old image's
     files_gpa/files_size: the personality points them at a fresh copy of its tree just
     before EXEC). 0/0: no files. */
  uint64_t files_gpa;
  uint64_t files_size;
  /* Written by the link: the `syscall` entry (LSTAR on kvm; on process, where the
     backend's seccomp trap sends a `syscall` that was not rewritten). */
  uint64_t syscall_entry;
};

/* The files archive: a header, then `count` entries, entry 0 the root directory. Each
   entry: struct pvm_files_entry, its name (name_len bytes, no NUL) padded to 8, its
   bytes (size; a symlink's target, a directory's none) padded to 8. An entry's parent is
   an earlier entry's index (the root's is 0); mode 0 is an unused entry (kept so indices
   survive an exec), parent PVM_FILES_UNLINKED an unlinked file still open. Written by
   lib/files.ts (spawn) and fs.c (exec), read by fs.c. */
#define PVM_FILES_MAGIC 0x73667670u  /* "pvfs" */
#define PVM_FILES_UNLINKED 0xffffffffu
struct pvm_files_header {
  uint32_t magic;
  uint32_t count;
  uint64_t bytes;  /* of the whole archive, header included */
};
struct pvm_files_entry {
  uint32_t parent;
  uint32_t mode;       /* Linux st_mode: S_IFREG / S_IFDIR / S_IFLNK | permission bits */
  uint64_t size;
  int64_t mtime_ns;    /* since the epoch */
  uint32_t name_len;
  uint32_t reserved;
};

#endif
