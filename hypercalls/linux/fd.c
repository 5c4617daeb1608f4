/*
 * The file descriptor table: the console (fds 0-2 at start: reads see end-of-file,
 * writes go to the console ring), pipes (pipe.c) and files (fs.c). It lives in the personality's own
 * memory, so a fork copies it; the pipe ends it holds are counted in each pipe's region.
 */
#include "linux.h"
#include "pipe.h"
#include "fs.h"

/* FD_FILE: an open file description of fs.c (slot: its index); FD_NULL: /dev/null. */
enum { FD_FREE, FD_CONSOLE_IN, FD_CONSOLE_OUT, FD_PIPE_R, FD_PIPE_W, FD_FILE, FD_NULL };
#define MAX_FDS LINUX_MAX_FDS
#define O_ACCMODE_L 3
#define O_APPEND_L 02000
#define O_NONBLOCK_L 04000
#define O_CLOEXEC_L 02000000
#define F_DUPFD 0
#define F_GETFD 1
#define F_SETFD 2
#define F_GETFL 3
#define F_SETFL 4
#define F_DUPFD_CLOEXEC 1030
#define FD_CLOEXEC_BIT 1
#define FIONREAD 0x541b
#define SIGPIPE_L 13
#define POLLIN_L 1
#define POLLOUT_L 4
#define POLLERR_L 8
#define POLLHUP_L 0x10
#define POLLNVAL_L 0x20

struct lfd {
  uint8_t kind, cloexec;
  uint32_t slot;    /* pipes: the region's channel slot */
  uint32_t flags;   /* O_NONBLOCK (kept per descriptor, not per open file) */
};
static struct lfd fds[MAX_FDS];
_Static_assert(sizeof fds == LINUX_FD_STATE_SIZE, "exec.c's copy of the table");

void linux_fd_save(uint8_t *out) { memcpy(out, fds, sizeof fds); }
void linux_fd_restore(const uint8_t *in) { memcpy(fds, in, sizeof fds); }

void linux_fd_init(void)
{
  fds[0] = (struct lfd){FD_CONSOLE_IN, 0, 0, 2};
  fds[1] = (struct lfd){FD_CONSOLE_OUT, 0, 0, 2};
  fds[2] = (struct lfd){FD_CONSOLE_OUT, 0, 0, 2};
}

static struct lfd *get(long fd)
{
  if (fd < 0 || fd >= MAX_FDS || fds[fd].kind == FD_FREE)
    return 0;
  return &fds[fd];
}

static int is_pipe(const struct lfd *f) { return f->kind == FD_PIPE_R || f->kind == FD_PIPE_W; }

/* A file's descriptors share one open file description (offset, flags), as dup'd fds do. */
static void file_ref(const struct lfd *f, int delta)
{
  if (f->kind == FD_FILE) linux_fs_ofile_ref(f->slot, delta);
}

/* One more (or one less) reference to f's pipe end, counted in the pipe as this pVM's. */
static void ref(const struct lfd *f, int delta)
{
  if (is_pipe(f))
    pipe_ref(f->slot, linux_boot->id, f->kind == FD_PIPE_R ? delta : 0, f->kind == FD_PIPE_W ? delta : 0);
}

/* Unmap a pipe's region once no descriptor here names it (frees the slot, and children
 * forked later do not inherit it). */
static void unmap_if_unused(uint32_t slot)
{
  for (int i = 0; i < MAX_FDS; i++)
    if (is_pipe(&fds[i]) && fds[i].slot == slot)
      return;
  (void)pvm_hypercall1(PVM_HC_CLOSE, slot);
}

long linux_close(long fd)
{
  struct lfd *f = get(fd);
  if (!f)
    return -L_EBADF;
  struct lfd old = *f;
  f->kind = FD_FREE;
  ref(&old, -1);
  file_ref(&old, -1);
  if (is_pipe(&old))
    unmap_if_unused(old.slot);
  return 0;
}

static long lowest_free(long from)
{
  for (long i = from < 0 ? 0 : from; i < MAX_FDS; i++)
    if (fds[i].kind == FD_FREE)
      return i;
  return -L_EMFILE;
}

static long dup_to(long oldfd, long newfd, int cloexec)
{
  struct lfd *f = get(oldfd);
  if (!f)
    return -L_EBADF;
  if (newfd == oldfd)
    return newfd;
  struct lfd copy = *f;
  copy.cloexec = (uint8_t)cloexec;
  ref(&copy, 1);  /* before the close below, which may drop the same pipe's last end */
  file_ref(&copy, 1);
  if (fds[newfd].kind != FD_FREE)
    linux_close(newfd);
  fds[newfd] = copy;
  return newfd;
}

long linux_dup(long fd)
{
  if (!get(fd))
    return -L_EBADF;
  long to = lowest_free(0);
  return to < 0 ? to : dup_to(fd, to, 0);
}

long linux_dup3(long oldfd, long newfd, long flags, int is_dup2)
{
  if (!get(oldfd))
    return -L_EBADF;
  if (newfd < 0 || newfd >= MAX_FDS)
    return -L_EBADF;
  if (!is_dup2 && (oldfd == newfd || (flags & ~(long)O_CLOEXEC_L)))
    return -L_EINVAL;
  return dup_to(oldfd, newfd, (flags & O_CLOEXEC_L) != 0);
}

long linux_fcntl(long fd, long cmd, uint64_t arg)
{
  struct lfd *f = get(fd);
  if (!f)
    return -L_EBADF;
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      if ((int64_t)arg < 0 || arg >= MAX_FDS) return -L_EINVAL;
      long to = lowest_free((long)arg);
      return to < 0 ? to : dup_to(fd, to, cmd == F_DUPFD_CLOEXEC);
    }
    case F_GETFD: return f->cloexec ? FD_CLOEXEC_BIT : 0;
    case F_GETFL:
      if (f->kind == FD_FILE) return (long)linux_fs_ofile_flags(f->slot);
      break;
    case F_SETFL:
      if (f->kind == FD_FILE) {
        linux_fs_ofile_set_flags(f->slot, ~(uint32_t)(O_NONBLOCK_L | O_APPEND_L), (uint32_t)(arg & (O_NONBLOCK_L | O_APPEND_L)));
        return 0;
      }
      break;
  }
  switch (cmd) {
    case F_SETFD: f->cloexec = (arg & FD_CLOEXEC_BIT) != 0; return 0;
    case F_GETFL:
      return (long)(f->flags | (f->kind == FD_PIPE_R ? 0 : f->kind == FD_PIPE_W ? 1 : 2));
    case F_SETFL: f->flags = (f->flags & O_ACCMODE_L) | (uint32_t)(arg & O_NONBLOCK_L); return 0;
  }
  linux_trace_unserved(72);
  return -L_EINVAL;
}

long linux_fd_open_file(uint32_t o, long flags)
{
  long fd = lowest_free(0);
  if (fd >= 0) fds[fd] = (struct lfd){FD_FILE, (flags & O_CLOEXEC_L) != 0, o, (uint32_t)(flags & O_NONBLOCK_L)};
  return fd;
}

long linux_fd_open_null(long flags)
{
  long fd = lowest_free(0);
  if (fd >= 0) fds[fd] = (struct lfd){FD_NULL, (flags & O_CLOEXEC_L) != 0, 0, (uint32_t)(flags & O_ACCMODE_L)};
  return fd;
}

long linux_fd_file_slot(long fd)
{
  struct lfd *f = get(fd);
  if (!f) return -L_EBADF;
  return f->kind == FD_FILE ? (long)f->slot : -L_EINVAL;
}

long linux_pipe2(int *out, long flags)
{
  if (flags & ~(long)(O_CLOEXEC_L | O_NONBLOCK_L))
    return -L_EINVAL;
  long r = lowest_free(0);
  if (r < 0)
    return r;
  fds[r].kind = FD_PIPE_R;  /* reserve it while looking for the second */
  long w = lowest_free(0);
  fds[r].kind = FD_FREE;
  if (w < 0)
    return w;
  long slot = pipe_create();  /* counts one reader and one writer for this pVM */
  if (slot < 0)
    return slot;
  uint8_t cloexec = (flags & O_CLOEXEC_L) != 0;
  uint32_t fl = (uint32_t)(flags & O_NONBLOCK_L);
  fds[r] = (struct lfd){FD_PIPE_R, cloexec, (uint32_t)slot, fl};
  fds[w] = (struct lfd){FD_PIPE_W, cloexec, (uint32_t)slot, fl | 1};
  out[0] = (int)r;
  out[1] = (int)w;
  return 0;
}

long linux_read(long fd, void *buf, uint64_t len)
{
  struct lfd *f = get(fd);
  if (!f)
    return -L_EBADF;
  switch (f->kind) {
    case FD_CONSOLE_IN: return linux_stdin_read(buf, len, (f->flags & O_NONBLOCK_L) != 0);
    case FD_PIPE_R: return pipe_read(f->slot, buf, len, (f->flags & O_NONBLOCK_L) != 0);
    case FD_FILE: return linux_fs_read(f->slot, buf, len, -1);
    case FD_NULL: return 0;
    default: return -L_EBADF;
  }
}

long linux_write(long fd, const void *buf, uint64_t len)
{
  struct lfd *f = get(fd);
  if (!f)
    return -L_EBADF;
  switch (f->kind) {
    case FD_CONSOLE_OUT:
      linux_console_write(buf, len);
      return (long)len;
    case FD_FILE: return linux_fs_write(f->slot, buf, len, -1);
    case FD_NULL: return (long)len;
    case FD_PIPE_W: {
      long n = pipe_write(f->slot, buf, len, (f->flags & O_NONBLOCK_L) != 0);
      /* No reader: EPIPE and SIGPIPE (its default action ends the process; a handler
       * runs as the write returns). */
      if (n == -L_EPIPE)
        linux_signal_raise(SIGPIPE_L, 0, (int)linux_boot->id);
      return n;
    }
    default: return -L_EBADF;
  }
}

struct iovec_l { uint64_t base, len; };

long linux_readv(long fd, const void *iov_, long count)
{
  const struct iovec_l *iov = iov_;
  if (count < 0 || count > 1024)
    return -L_EINVAL;
  long total = 0;
  for (long i = 0; i < count; i++) {
    if (iov[i].len == 0)
      continue;
    struct lfd *f = get(fd);
    uint32_t saved = f ? f->flags : 0;
    if (f && total > 0)
      f->flags |= O_NONBLOCK_L;  /* only the first piece may wait */
    long n = linux_read(fd, (void *)(uintptr_t)iov[i].base, iov[i].len);
    if (f)
      f->flags = saved;
    if (n < 0)
      return total ? total : n;
    total += n;
    if ((uint64_t)n < iov[i].len)
      break;
  }
  return total;
}

long linux_writev(long fd, const void *iov_, long count)
{
  const struct iovec_l *iov = iov_;
  if (count < 0 || count > 1024)
    return -L_EINVAL;
  long total = 0;
  for (long i = 0; i < count; i++) {
    long n = linux_write(fd, (const void *)(uintptr_t)iov[i].base, iov[i].len);
    if (n < 0)
      return total ? total : n;
    total += n;
    if ((uint64_t)n < iov[i].len)
      break;
  }
  return total;
}

long linux_fstat(long fd, uint8_t *st)
{
  struct lfd *f = get(fd);
  if (!f)
    return -L_EBADF;
  if (f->kind == FD_FILE) return linux_fs_fstat(f->slot, st);
  memset(st, 0, 144);
  if (f->kind == FD_NULL) {
    uint32_t mode = 0020000 | 0666;  /* S_IFCHR, 1:3 */
    uint64_t rdev = (1u << 8) | 3, nlink = 1;
    memcpy(st + 16, &nlink, 8);
    memcpy(st + 24, &mode, 4);
    memcpy(st + 40, &rdev, 8);
    return 0;
  }
  uint32_t mode = is_pipe(f) ? 0010000 | 0600 : 0020000 | 0620;  /* S_IFIFO, or S_IFCHR (a pty) */
  uint64_t nlink = 1, blksize = is_pipe(f) ? 4096 : 1024, rdev = is_pipe(f) ? 0 : (136ull << 8);
  uint64_t ino = is_pipe(f) ? 0x1000 + f->slot : 3;
  memcpy(st + 8, &ino, 8);
  memcpy(st + 16, &nlink, 8);
  memcpy(st + 24, &mode, 4);
  memcpy(st + 40, &rdev, 8);
  memcpy(st + 56, &blksize, 8);
  return 0;
}

long linux_ioctl(long fd, long req, uint64_t arg)
{
  struct lfd *f = get(fd);
  if (!f)
    return -L_EBADF;
  if (req == FIONREAD && f->kind == FD_CONSOLE_IN) {
    int n = (int)linux_stdin_waiting();
    memcpy((void *)(uintptr_t)arg, &n, sizeof n);
    return 0;
  }
  return -L_ENOTTY;  /* neither the console nor a pipe is a terminal: TCGETS, TIOCGWINSZ ... */
}

long linux_lseek(long fd, int64_t off, long whence)
{
  struct lfd *f = get(fd);
  if (!f) return -L_EBADF;
  if (f->kind == FD_FILE) return linux_fs_lseek(f->slot, off, whence);
  return f->kind == FD_NULL ? 0 : -L_ESPIPE;
}

long linux_pread(long fd, void *buf, uint64_t len, int64_t off, int write)
{
  struct lfd *f = get(fd);
  if (!f) return -L_EBADF;
  if (f->kind == FD_NULL) return write ? (long)len : 0;
  if (f->kind != FD_FILE) return -L_ESPIPE;
  if (off < 0) return -L_EINVAL;
  return write ? linux_fs_write(f->slot, buf, len, off) : linux_fs_read(f->slot, buf, len, off);
}

long linux_ftruncate(long fd, int64_t len)
{
  struct lfd *f = get(fd);
  if (!f) return -L_EBADF;
  return f->kind == FD_FILE ? linux_fs_ftruncate(f->slot, len) : -L_EINVAL;
}

/* sendfile: a read and a write through a buffer (any kinds of descriptors). */
long linux_sendfile(long out, long in, int64_t *offset, uint64_t count)
{
  static uint8_t buf[16384];
  long total = 0;
  while (count > 0) {
    uint64_t want = count < sizeof buf ? count : sizeof buf;
    long n = offset ? linux_pread(in, buf, want, *offset, 0) : linux_read(in, buf, want);
    if (n <= 0) return total ? total : n;
    long w = linux_write(out, buf, (uint64_t)n);
    if (w < 0) return total ? total : w;
    if (offset) *offset += w;
    total += w;
    count -= (uint64_t)w;
    if (w < n) {  /* the rest was read but not written: give it back to the input's offset */
      if (!offset) linux_lseek(in, w - n, 1);
      break;
    }
    if ((uint64_t)n < want) break;
  }
  return total;
}

long linux_getdents64(long fd, uint8_t *buf, uint64_t count)
{
  struct lfd *f = get(fd);
  if (!f) return -L_EBADF;
  return f->kind == FD_FILE ? linux_fs_getdents64(f->slot, buf, count) : -L_ENOTDIR;
}

/* What fd has to report of `events` (POLLERR/POLLHUP/POLLNVAL whatever was asked), for
 * poll.c. */
short linux_fd_ready(long fd, short events)
{
  struct lfd *f = get(fd);
  if (!f)
    return POLLNVAL_L;
  short r = 0;
  switch (f->kind) {
    case FD_CONSOLE_IN: r = linux_stdin_ready() ? POLLIN_L : 0; break;
    case FD_CONSOLE_OUT: r = POLLOUT_L; break;
    case FD_FILE: case FD_NULL: r = POLLIN_L | POLLOUT_L; break;  /* never waits */
    case FD_PIPE_R:
      switch (pipe_readable(f->slot)) {
        case 1: r = POLLIN_L; break;
        case 2: r = POLLHUP_L; break;  /* empty, and no writer left: as Linux says it */
      }
      break;
    case FD_PIPE_W:
      if (pipe_no_readers(f->slot)) r = POLLERR_L;
      else if (pipe_writable(f->slot)) r = POLLOUT_L;
      break;
  }
  return (short)(r & (events | POLLERR_L | POLLHUP_L));
}

/* ---- fork, exec, exit --------------------------------------------------------------- */

int linux_fd_fork_prepare(void)
{
  for (int i = 0; i < MAX_FDS; i++)
    ref(&fds[i], 1);  /* the child's copies, counted as ours until it takes them */
  return 0;
}

void linux_fd_fork_undo(void)
{
  for (int i = 0; i < MAX_FDS; i++)
    ref(&fds[i], -1);
}

void linux_fd_fork_child(void)
{
  uint64_t parent = linux_boot->parent_id, self = linux_boot->id;
  for (int i = 0; i < MAX_FDS; i++)
    if (is_pipe(&fds[i]))
      pipe_move_refs(fds[i].slot, parent, self, fds[i].kind == FD_PIPE_R, fds[i].kind == FD_PIPE_W);
}

void linux_fd_close_all(void)
{
  for (int i = 0; i < MAX_FDS; i++)
    if (is_pipe(&fds[i]))
      ref(&fds[i], -1), fds[i].kind = FD_FREE;  /* no unmapping: the pVM ends */
}

void linux_fd_exec(void)
{
  for (int i = 0; i < MAX_FDS; i++)
    if (fds[i].kind != FD_FREE && fds[i].cloexec)
      linux_close(i);
}

void linux_fd_child_gone(uint64_t id)
{
  const struct pvm_boot_info *bi = linux_boot;
  for (uint32_t s = 0; s < bi->channel_slots; s++)
    if (pipe_is_pipe(s))
      pipe_forget(s, id);
}
