/* The console (the pVM's output: fds 1 and 2), the trace line, and the few string
 * functions the personality needs (it links no libc). */
#include "linux.h"

void *memcpy(void *dst, const void *src, size_t n)
{
  __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
  return dst;
}

void *memset(void *dst, int c, size_t n)
{
  void *d = dst;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
  return dst;
}

size_t strlen(const char *s)
{
  size_t n = 0;
  while (s[n])
    n++;
  return n;
}

/* The ring protocol of hypercalls/runtime/console.c: the guest moves head, the monitor
 * tail; CONSOLE_FLUSH only when the ring is full. */
void linux_console_write(const void *buf, size_t len)
{
  struct pvm_boot_info *bi = linux_boot;
  uint64_t size = bi->console_size;
  if (size == 0)
    return;
  char *ring = (char *)(uintptr_t)bi->console_gpa;
  uint64_t head = bi->console_head;
  const char *p = buf;
  while (len > 0) {
    uint64_t tail = *(volatile uint64_t *)&bi->console_tail;
    uint64_t used = head - tail;
    if (used >= size) {
      if (pvm_hypercall0(PVM_HC_CONSOLE_FLUSH) < 0 || *(volatile uint64_t *)&bi->console_tail == tail)
        return;
      continue;
    }
    uint64_t off = head % size, n = size - used;
    if (n > size - off) n = size - off;
    if (n > len) n = len;
    memcpy(ring + off, p, n);
    p += n;
    len -= n;
    head += n;
    __asm__ volatile("" ::: "memory");
    *(volatile uint64_t *)&bi->console_head = head;
  }
}

/* Names of the calls a program is likely to try that are not served yet. */
static const struct { short nr; const char *name; } names[] = {
    {2, "open"}, {4, "stat"}, {5, "fstat"}, {6, "lstat"}, {7, "poll"}, {8, "lseek"}, {17, "pread64"},
    {18, "pwrite64"}, {21, "access"}, {22, "pipe"}, {23, "select"}, {32, "dup"},
    {33, "dup2"}, {35, "nanosleep"}, {41, "socket"}, {56, "clone"}, {57, "fork"}, {58, "vfork"},
    {59, "execve"}, {61, "wait4"}, {62, "kill"}, {72, "fcntl"}, {78, "getdents"},
    {80, "chdir"}, {82, "rename"}, {83, "mkdir"}, {87, "unlink"}, {89, "readlink"}, {157, "prctl"},
    {200, "tkill"}, {217, "getdents64"}, {230, "clock_nanosleep"}, {234, "tgkill"}, {247, "waitid"},
    {257, "openat"}, {262, "newfstatat"}, {267, "readlinkat"}, {270, "pselect6"}, {271, "ppoll"},
    {292, "dup3"}, {293, "pipe2"}, {332, "statx"}, {334, "rseq"}, {435, "clone3"},
};

static char *put_dec(char *p, uint64_t v)
{
  char tmp[24];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (n > 0) *p++ = tmp[--n];
  return p;
}

void linux_trace_unserved(long nr)
{
  if (!(linux_handoff.flags & PVM_LINUX_TRACE_SYSCALLS))
    return;
  char line[96], *p = line;
  const char *head = "pvm: syscall ", *tail = ": ENOSYS (not served)\n";
  memcpy(p, head, strlen(head)); p += strlen(head);
  for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
    if (names[i].nr == nr) {
      memcpy(p, names[i].name, strlen(names[i].name));
      p += strlen(names[i].name);
      *p++ = ' ';
      break;
    }
  }
  *p++ = '(';
  p = put_dec(p, (uint64_t)nr);
  *p++ = ')';
  memcpy(p, tail, strlen(tail)); p += strlen(tail);
  linux_console_write(line, (size_t)(p - line));
}

static char *put_hex(char *p, uint64_t v)
{
  static const char digits[] = "0123456789abcdef";
  char tmp[16];
  int n = 0;
  do tmp[n++] = digits[v & 15]; while ((v >>= 4) != 0);
  *p++ = '0', *p++ = 'x';
  while (n > 0) *p++ = tmp[--n];
  return p;
}

static char *put_str(char *p, const char *s)
{
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

/* PVM_TRACE=syscalls-all: "pvm: [pid] syscall nr(a0, a1, a2) = result" for every call. */
void linux_trace_call(long nr, uint64_t a0, uint64_t a1, uint64_t a2, long result)
{
  char line[160], *p = line;
  p = put_str(p, "pvm: [");
  p = put_dec(p, linux_boot->id);
  p = put_str(p, "] syscall ");
  p = put_dec(p, (uint64_t)nr);
  *p++ = '(';
  p = put_hex(p, a0), p = put_str(p, ", ");
  p = put_hex(p, a1), p = put_str(p, ", ");
  p = put_hex(p, a2), p = put_str(p, ") = ");
  if (result < 0) *p++ = '-', result = -result;
  p = put_dec(p, (uint64_t)result);
  *p++ = '\n';
  linux_console_write(line, (size_t)(p - line));
}

/* With the trace on, at start: how many `syscall` sites the load made calls. */
void linux_trace_call_sites(void)
{
  if (!(linux_handoff.flags & PVM_LINUX_TRACE_SYSCALLS))
    return;
  char line[64], *p = line;
  const char *head = "pvm: linux: ", *tail = " syscall sites are calls\n";
  memcpy(p, head, strlen(head)); p += strlen(head);
  p = put_dec(p, linux_handoff.call_sites);
  memcpy(p, tail, strlen(tail)); p += strlen(tail);
  linux_console_write(line, (size_t)(p - line));
}
