/*
 * Memory for the program: brk grows up from the end of the image, anonymous mmap comes
 * down from the stack's guard page; they meet in the middle. Guest RAM is identity
 * mapped and all of it read-write-execute already, so mprotect has nothing to do.
 *
 * RAM nobody has used yet is zero (the monitor guarantees it), so fresh pages are
 * handed out as they are; a range that comes back (munmap, brk shrinking) goes into a
 * small free list and is zeroed when handed out again, as Linux does.
 *
 * A shared anonymous mapping (MAP_SHARED | MAP_ANONYMOUS) is a shared-memory region
 * (SHM_CREATE) in a free channel slot: a fork child shares it at the same address, as
 * Linux's fork shares such a mapping; munmap of it closes the region.
 */
#include "linux.h"

#define PAGE 4096ull
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))
#define MAP_SHARED 0x01
#define MAP_SHARED_VALIDATE 0x03
#define MAP_TYPE 0x0f
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000
#define MADV_DONTNEED 4
#define MAX_FREE 256

static uint64_t heap_lo, heap_hi;  /* the whole area */
static uint64_t brk_start, brk_cur, brk_touched;
static uint64_t mmap_low;          /* below it (down to brk), nothing has been mapped yet */

struct range { uint64_t start, len; };
static struct range free_list[MAX_FREE];  /* sorted by start, not adjacent */
static unsigned free_count;

void linux_memory_init(uint64_t start, uint64_t end)
{
  heap_lo = brk_start = brk_cur = brk_touched = PAGE_UP(start);
  heap_hi = mmap_low = end & ~(PAGE - 1);
}

long linux_brk(uint64_t addr)
{
  if (addr < brk_start || PAGE_UP(addr) > mmap_low)
    return (long)brk_cur;  /* Linux: the old break means "no" */
  if (addr > brk_cur && brk_cur < brk_touched) {
    uint64_t end = addr < brk_touched ? addr : brk_touched;
    memset((void *)(uintptr_t)brk_cur, 0, end - brk_cur);  /* used before: zero again */
  }
  brk_cur = addr;
  if (brk_cur > brk_touched)
    brk_touched = brk_cur;
  return (long)brk_cur;
}

static void free_remove(unsigned i)
{
  for (; i + 1 < free_count; i++)
    free_list[i] = free_list[i + 1];
  free_count--;
}

/* Adds [start, start+len) to the free list, merging neighbours. */
static void free_add(uint64_t start, uint64_t len)
{
  uint64_t end = start + len;
  unsigned i = 0;
  while (i < free_count && free_list[i].start + free_list[i].len < start)
    i++;
  /* Merge every range that overlaps or touches [start, end). */
  while (i < free_count && free_list[i].start <= end) {
    uint64_t s = free_list[i].start, e = s + free_list[i].len;
    if (s < start) start = s;
    if (e > end) end = e;
    free_remove(i);
  }
  if (free_count == MAX_FREE)
    return;  /* full: the range is lost to this process, not to correctness */
  for (unsigned j = free_count; j > i; j--)
    free_list[j] = free_list[j - 1];
  free_list[i] = (struct range){start, end - start};
  free_count++;
}

/* Takes [start, start+len) out of the free list where it is there. */
static void free_take(uint64_t start, uint64_t len)
{
  uint64_t end = start + len;
  for (unsigned i = 0; i < free_count;) {
    uint64_t s = free_list[i].start, e = s + free_list[i].len;
    if (e <= start || s >= end) { i++; continue; }
    free_remove(i);
    if (s < start) free_add(s, start - s);
    if (e > end) free_add(end, e - end);
    i = 0;
  }
}

/* The slots this process's shared mappings hold (a fork child inherits them). */
static uint64_t shared_slots[(PVM_CHANNEL_SLOTS + 63) / 64];

static long map_shared(uint64_t len, long flags)
{
  /* One region: a channel slot's size at most; no fixed address (the slot decides). */
  if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) || len > PVM_CHANNEL_SLOT_SIZE)
    return -L_ENOMEM;
  long slot = pvm_hypercall1(PVM_HC_SHM_CREATE, (long)len);
  if (slot < 0)
    return slot == -PVM_EINVAL ? -L_EINVAL : -L_ENOMEM;  /* no free slot, or no memory */
  shared_slots[slot / 64] |= 1ull << (slot % 64);
  return (long)(uintptr_t)pvm_channel_base((uint32_t)slot);
}

static int in_channel_window(uint64_t addr)
{
  uint64_t window = linux_boot->channel_window;
  return addr >= window && addr < window + (uint64_t)PVM_CHANNEL_SLOTS * PVM_CHANNEL_SLOT_SIZE;
}

/* munmap inside the channel window: a shared mapping's region closes when its start is
 * unmapped (what else is there is the program's pipes and channels: left alone). */
static int unmap_shared(uint64_t addr)
{
  uint64_t window = linux_boot->channel_window;
  if (!in_channel_window(addr))
    return 0;
  uint64_t slot = (addr - window) / PVM_CHANNEL_SLOT_SIZE;
  if (addr == window + slot * PVM_CHANNEL_SLOT_SIZE && (shared_slots[slot / 64] >> (slot % 64)) & 1) {
    shared_slots[slot / 64] &= ~(1ull << (slot % 64));
    (void)pvm_hypercall1(PVM_HC_CLOSE, (long)slot);
  }
  return 1;
}

long linux_mmap(uint64_t addr, uint64_t len, long prot, long flags, long fd, uint64_t off)
{
  (void)prot; (void)off;
  if (!(flags & MAP_ANONYMOUS))
    return fd < 0 ? -L_EBADF : -L_ENODEV;  /* no files yet */
  if (len == 0)
    return -L_EINVAL;
  len = PAGE_UP(len);
  if ((flags & MAP_TYPE) == MAP_SHARED || (flags & MAP_TYPE) == MAP_SHARED_VALIDATE)
    return map_shared(len, flags);
  if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
    /* Only inside the mmap area: the rest of RAM is the image, the stack, the runtime. */
    if (addr % PAGE || addr < brk_touched || addr > heap_hi || len > heap_hi - addr)
      return -L_ENOMEM;
    if (addr < mmap_low) {
      if (addr + len < mmap_low) free_add(addr + len, mmap_low - (addr + len));
      mmap_low = addr;
    }
    free_take(addr, len);
    memset((void *)(uintptr_t)addr, 0, len);
    return (long)addr;
  }
  for (unsigned i = 0; i < free_count; i++) {
    if (free_list[i].len < len)
      continue;
    /* From the top of the range, so the rest stays where it was. */
    uint64_t at = free_list[i].start + free_list[i].len - len;
    free_list[i].len -= len;
    if (free_list[i].len == 0)
      free_remove(i);
    memset((void *)(uintptr_t)at, 0, len);
    return (long)at;
  }
  if (mmap_low - PAGE_UP(brk_touched) < len)
    return -L_ENOMEM;
  mmap_low -= len;
  return (long)mmap_low;  /* never used: zero */
}

long linux_munmap(uint64_t addr, uint64_t len)
{
  if (addr % PAGE || len == 0)
    return -L_EINVAL;
  if (unmap_shared(addr))
    return 0;
  len = PAGE_UP(len);
  /* Only what the mmap area holds; unmapping anything else is a no-op, as for a hole. */
  uint64_t start = addr < mmap_low ? mmap_low : addr;
  uint64_t end = addr + len > heap_hi ? heap_hi : addr + len;
  if (start < end)
    free_add(start, end - start);
  return 0;
}

long linux_madvise(uint64_t addr, uint64_t len, long advice)
{
  if (advice == MADV_DONTNEED && addr >= heap_lo && addr < heap_hi && addr % PAGE == 0) {
    uint64_t end = PAGE_UP(addr + len) > heap_hi ? heap_hi : PAGE_UP(addr + len);
    memset((void *)(uintptr_t)addr, 0, end - addr);  /* Linux gives zero pages back after */
  }
  return 0;
}

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2

/* Growing moves (a new mapping, a copy, the old one freed); shrinking frees the tail. */
long linux_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, long flags)
{
  if (old % PAGE || new_len == 0 || (flags & ~(long)MREMAP_MAYMOVE))
    return -L_EINVAL;
  old_len = PAGE_UP(old_len);
  new_len = PAGE_UP(new_len);
  if (in_channel_window(old))  /* a shared mapping keeps its region: it cannot grow or move */
    return new_len <= old_len ? (long)old : -L_ENOMEM;
  if (new_len <= old_len) {
    if (new_len < old_len)
      linux_munmap(old + new_len, old_len - new_len);
    return (long)old;
  }
  if (!(flags & MREMAP_MAYMOVE))
    return -L_ENOMEM;
  long moved = linux_mmap(0, new_len, 3, MAP_ANONYMOUS | 2, -1, 0);
  if (moved < 0)
    return moved;
  memcpy((void *)(uintptr_t)moved, (const void *)(uintptr_t)old, old_len);
  linux_munmap(old, old_len);
  return moved;
}
