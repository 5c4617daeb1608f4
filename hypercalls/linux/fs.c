/*
 * The pVM's files: a tree in its own RAM. The monitor puts an archive (handoff.h) at the
 * top of the heap area; this file indexes it into a node table and serves paths over it.
 * A file's bytes stay in the archive until it is first written, then move to memory of
 * its own (anonymous mmap). Everything is guest RAM, so a fork child gets a
 * copy-on-write copy of the whole tree for free and its writes are its own; an exec
 * keeps the tree because fs_pack() writes it out as a new archive the monitor copies
 * into the new image's RAM (node indices survive, so do open files).
 *
 * The tree has regular files and directories only; the caller is root (access always
 * answers by existence). Open file descriptions (offset, flags) are shared by dup'd fds,
 * as on Linux; a fork child gets its own copies.
 */
#include "linux.h"
#include "fs.h"

#define S_IFMT_L 0170000
#define S_IFDIR_L 0040000
#define S_IFREG_L 0100000
#define IS_DIR(m) (((m) & S_IFMT_L) == S_IFDIR_L)
#define IS_REG(m) (((m) & S_IFMT_L) == S_IFREG_L)
#define O_ACCMODE_L 3
#define O_WRONLY_L 1
#define O_RDWR_L 2
#define O_CREAT_L 0100
#define O_EXCL_L 0200
#define O_TRUNC_L 01000
#define O_APPEND_L 02000
#define O_DIRECTORY_L 0200000
#define AT_FDCWD_L (-100)
#define AT_REMOVEDIR_L 0x200
#define NAME_MAX_L 255
#define MAX_OFILES LINUX_MAX_FDS
#define PAGE 4096ull
#define ROUND8(x) (((x) + 7) & ~7ull)
#define MAP_PRIVATE_ANON 0x22

struct fnode {
  uint32_t parent, mode;  /* mode 0: a free entry */
  uint64_t size, data;    /* data: the bytes' guest address (in the archive while cap is 0) */
  uint64_t cap;           /* bytes of memory of its own, 0 while the archive holds them */
  int64_t mtime_ns;
  uint32_t opens;         /* open file descriptions naming it: an unlinked node stays till 0 */
  uint32_t name_len;
  char name[NAME_MAX_L + 1];
};

struct ofile { uint32_t node, flags, refs, unused; uint64_t off; };

/* What an exec carries over besides the archive (exec.c copies it byte for byte). */
struct fs_state {
  uint32_t cwd, unused;
  struct ofile ofiles[MAX_OFILES];
};
_Static_assert(sizeof(struct fs_state) <= LINUX_FS_STATE_SIZE, "exec.c's copy of the files' state");
_Static_assert(sizeof(struct pvm_linux_handoff) == 96, "entry.S lays the handoff header out");

static struct fnode *nodes;
static uint32_t nnodes, node_cap;
static struct fs_state st;
static uint64_t archive_gpa, archive_size;  /* the one this image started from */
static uint64_t packed_gpa, packed_len;     /* fs_pack's, while an exec is tried */

static long alloc_pages(uint64_t len) { return linux_mmap(0, len, 3, MAP_PRIVATE_ANON, -1, 0); }

static int64_t now_realtime(void) { return (int64_t)(linux_now_ns() + linux_handoff.realtime_offset_ns); }

static int same(const char *a, const char *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

static int streq(const char *a, const char *b)
{
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static long append_node(void)
{
  if (nnodes == node_cap) {
    uint64_t old = (uint64_t)node_cap * sizeof *nodes, want = old ? old * 2 : 64 * sizeof *nodes;
    long moved = old ? linux_mremap((uint64_t)(uintptr_t)nodes, old, want, 1) : alloc_pages(want);
    if (moved < 0) return -L_ENOSPC;
    nodes = (struct fnode *)(uintptr_t)moved;
    node_cap = (uint32_t)(want / sizeof *nodes);
  }
  return nnodes++;
}

static long new_node(void)
{
  for (uint32_t i = 1; i < nnodes; i++)
    if (nodes[i].mode == 0) return i;
  return append_node();
}

static void free_bytes(struct fnode *n)
{
  if (n->cap) linux_munmap(n->data, n->cap);
  n->data = n->size = n->cap = 0;
}

static void drop_node(uint32_t i)
{
  free_bytes(&nodes[i]);
  memset(&nodes[i], 0, sizeof nodes[i]);
}

/* Indexes the archive at gpa; anything malformed ends the index where it is. */
void linux_fs_init(uint64_t gpa, uint64_t size)
{
  archive_gpa = gpa;
  archive_size = size;
  long r = append_node();  /* the root: always node 0 */
  if (r != 0) return;
  nodes[0] = (struct fnode){.parent = 0, .mode = S_IFDIR_L | 0755, .mtime_ns = now_realtime()};
  const struct pvm_files_header *h = (const struct pvm_files_header *)(uintptr_t)gpa;
  if (!gpa || size < sizeof *h || h->magic != PVM_FILES_MAGIC || h->bytes > size)
    return;
  uint64_t at = sizeof *h, end = h->bytes;
  for (uint32_t i = 0; i < h->count; i++) {
    const struct pvm_files_entry *e = (const struct pvm_files_entry *)(uintptr_t)(gpa + at);
    if (end - at < sizeof *e) return;
    uint64_t name_at = at + sizeof *e, data_at = name_at + ROUND8(e->name_len);
    if (e->name_len > NAME_MAX_L || data_at > end || e->size > end - data_at) return;
    if (e->parent != PVM_FILES_UNLINKED && e->parent >= (i ? i : 1)) return;
    long n = i == 0 ? 0 : append_node();
    if (n != (long)i) return;
    struct fnode *f = &nodes[i];
    f->parent = e->parent;
    f->mode = e->mode;
    f->size = IS_REG(e->mode) ? e->size : 0;
    f->data = gpa + data_at;
    f->cap = 0;
    f->mtime_ns = e->mtime_ns;
    f->name_len = e->name_len;
    memcpy(f->name, (const void *)(uintptr_t)(gpa + name_at), e->name_len);
    f->name[e->name_len] = 0;
    if (i == 0) f->parent = 0, f->mode = S_IFDIR_L | (e->mode & 07777), f->name_len = 0, f->name[0] = 0;
    at = data_at + ROUND8(e->size);
  }
}

/* ---- paths ----------------------------------------------------------------------------- */

static long lookup(uint32_t dir, const char *s, size_t n)
{
  if (n == 1 && s[0] == '.') return dir;
  if (n == 2 && s[0] == '.' && s[1] == '.') return nodes[dir].parent;
  for (uint32_t i = 1; i < nnodes; i++)
    if (nodes[i].mode && nodes[i].parent == dir && nodes[i].name_len == n && same(nodes[i].name, s, n))
      return i;
  return -L_ENOENT;
}

struct walked {
  uint32_t dir;      /* the directory the last component is (or would be) in */
  const char *last;  /* that component (not NUL-terminated) */
  size_t last_len;
  int slash;         /* the path ended in '/' */
};

static long start_of(long dirfd, const char *path, uint32_t *out)
{
  if (path[0] == '/') { *out = 0; return 0; }
  if (dirfd == AT_FDCWD_L) { *out = st.cwd; return 0; }
  long n = linux_fd_file_slot(dirfd);
  if (n < 0) return n == -L_EINVAL ? -L_ENOTDIR : n;
  *out = st.ofiles[n].node;
  return IS_DIR(nodes[*out].mode) ? 0 : -L_ENOTDIR;
}

/* The node `path` names, or -error; w says where its last component is (valid when the
 * result is the node or -ENOENT for the last component alone: then w->last_len > 0). */
static long walk(long dirfd, const char *path, struct walked *w)
{
  w->last_len = 0;
  w->slash = 0;
  if (!path) return -L_EFAULT;
  if (!*path) return -L_ENOENT;
  uint32_t cur;
  long r = start_of(dirfd, path, &cur);
  if (r < 0) return r;
  const char *p = path;
  w->dir = nodes[cur].parent;
  w->last = ".";
  w->last_len = 1;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) return cur;  /* "/" or a path ending in '/': the directory itself */
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t n = (size_t)(p - s);
    if (n > NAME_MAX_L) return -L_ENAMETOOLONG;
    if (!IS_DIR(nodes[cur].mode)) return -L_ENOTDIR;
    const char *q = p;
    while (*q == '/') q++;
    long next = lookup(cur, s, n);
    if (!*q) {
      w->dir = cur, w->last = s, w->last_len = n, w->slash = *p == '/';
      if (next >= 0 && w->slash && !IS_DIR(nodes[next].mode)) return -L_ENOTDIR;
      return next;
    }
    if (next < 0) { w->last_len = 0; return next; }
    cur = (uint32_t)next;
  }
}

static long make_node(const struct walked *w, uint32_t mode)
{
  if (w->last_len == 0) return -L_ENOENT;
  long n = new_node();
  if (n < 0) return n;
  struct fnode *f = &nodes[n];
  memset(f, 0, sizeof *f);
  f->parent = w->dir;
  f->mode = mode;
  f->mtime_ns = now_realtime();
  f->name_len = (uint32_t)w->last_len;
  memcpy(f->name, w->last, w->last_len);
  nodes[w->dir].mtime_ns = f->mtime_ns;
  return n;
}

static int dir_empty(uint32_t dir)
{
  for (uint32_t i = 1; i < nnodes; i++)
    if (nodes[i].mode && nodes[i].parent == dir) return 0;
  return 1;
}

/* Out of the tree: gone now, or when its last open description closes. */
static void unlink_node(uint32_t i)
{
  if (nodes[i].opens) nodes[i].parent = PVM_FILES_UNLINKED;
  else drop_node(i);
}

/* ---- open files -------------------------------------------------------------------------- */

long linux_openat(long dirfd, const char *path, long flags, long mode)
{
  if (path && streq(path, "/dev/null")) return linux_fd_open_null(flags);
  struct walked w;
  long n = walk(dirfd, path, &w);
  long acc = flags & O_ACCMODE_L;
  if (n >= 0) {
    if ((flags & O_CREAT_L) && (flags & O_EXCL_L)) return -L_EEXIST;
    if (IS_DIR(nodes[n].mode) && (acc != 0 || (flags & (O_TRUNC_L | O_CREAT_L)))) return -L_EISDIR;
    if (!IS_DIR(nodes[n].mode) && (flags & O_DIRECTORY_L)) return -L_ENOTDIR;
  } else {
    if (n != -L_ENOENT || !(flags & O_CREAT_L) || w.last_len == 0) return n;
    if (w.slash) return -L_EISDIR;
    n = make_node(&w, S_IFREG_L | ((uint32_t)mode & 07777 & ~022u));
    if (n < 0) return n;
  }
  if ((flags & O_TRUNC_L) && acc != 0 && IS_REG(nodes[n].mode)) {
    free_bytes(&nodes[n]);
    nodes[n].mtime_ns = now_realtime();
  }
  long o = -1;
  for (long i = 0; i < MAX_OFILES; i++)
    if (st.ofiles[i].refs == 0) { o = i; break; }
  if (o < 0) return -L_ENFILE;
  long fd = linux_fd_open_file((uint32_t)o, flags);
  if (fd < 0) return fd;
  st.ofiles[o] = (struct ofile){(uint32_t)n, (uint32_t)flags & ~(uint32_t)(O_CREAT_L | O_EXCL_L | O_TRUNC_L), 1, 0, 0};
  nodes[n].opens++;
  return fd;
}

void linux_fs_ofile_ref(uint32_t o, int delta)
{
  struct ofile *f = &st.ofiles[o];
  f->refs += (uint32_t)delta;
  if (f->refs) return;
  struct fnode *n = &nodes[f->node];
  if (--n->opens == 0 && n->parent == PVM_FILES_UNLINKED) drop_node(f->node);
}

uint32_t linux_fs_ofile_flags(uint32_t o) { return st.ofiles[o].flags; }
void linux_fs_ofile_set_flags(uint32_t o, uint32_t keep_mask, uint32_t bits)
{
  st.ofiles[o].flags = (st.ofiles[o].flags & keep_mask) | bits;
}

static long read_at(struct fnode *n, void *buf, uint64_t len, uint64_t off)
{
  if (IS_DIR(n->mode)) return -L_EISDIR;
  if (off >= n->size) return 0;
  if (len > n->size - off) len = n->size - off;
  memcpy(buf, (const void *)(uintptr_t)(n->data + off), len);
  return (long)len;
}

/* Room for `end` bytes of its own (the archive's are copied out first). */
static long reserve(struct fnode *n, uint64_t end)
{
  if (end <= n->cap) return 0;
  uint64_t want = n->cap ? n->cap : PAGE;
  while (want < end) want *= 2;
  long at = alloc_pages(want);
  if (at < 0) return -L_ENOSPC;
  if (n->size) memcpy((void *)(uintptr_t)at, (const void *)(uintptr_t)n->data, n->size);
  if (n->cap) linux_munmap(n->data, n->cap);
  n->data = (uint64_t)at;
  n->cap = want;
  return 0;
}

static long write_at(struct fnode *n, const void *buf, uint64_t len, uint64_t off)
{
  if (len == 0) return 0;
  if (off + len < off) return -L_EFBIG;
  long r = reserve(n, off + len);
  if (r < 0) return r;
  if (off > n->size) memset((void *)(uintptr_t)(n->data + n->size), 0, off - n->size);
  memcpy((void *)(uintptr_t)(n->data + off), buf, len);
  if (off + len > n->size) n->size = off + len;
  n->mtime_ns = now_realtime();
  return (long)len;
}

long linux_fs_read(uint32_t o, void *buf, uint64_t len, int64_t at)
{
  struct ofile *f = &st.ofiles[o];
  if ((f->flags & O_ACCMODE_L) == O_WRONLY_L) return -L_EBADF;
  long r = read_at(&nodes[f->node], buf, len, at < 0 ? f->off : (uint64_t)at);
  if (r > 0 && at < 0) f->off += (uint64_t)r;
  return r;
}

long linux_fs_write(uint32_t o, const void *buf, uint64_t len, int64_t at)
{
  struct ofile *f = &st.ofiles[o];
  if ((f->flags & O_ACCMODE_L) == 0) return -L_EBADF;
  struct fnode *n = &nodes[f->node];
  uint64_t off = at >= 0 ? (uint64_t)at : (f->flags & O_APPEND_L) ? n->size : f->off;
  long r = write_at(n, buf, len, off);
  if (r > 0 && at < 0) f->off = off + (uint64_t)r;
  return r;
}

long linux_fs_lseek(uint32_t o, int64_t off, long whence)
{
  struct ofile *f = &st.ofiles[o];
  int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)f->off : whence == 2 ? (int64_t)nodes[f->node].size : -1;
  if (base < 0 || (IS_DIR(nodes[f->node].mode) && whence != 0)) return -L_EINVAL;
  if (base + off < 0) return -L_EINVAL;
  f->off = (uint64_t)(base + off);
  return (long)f->off;
}

long linux_fs_ftruncate(uint32_t o, int64_t len)
{
  struct ofile *f = &st.ofiles[o];
  struct fnode *n = &nodes[f->node];
  if (len < 0 || !IS_REG(n->mode)) return -L_EINVAL;
  if ((f->flags & O_ACCMODE_L) == 0) return -L_EINVAL;
  if ((uint64_t)len > n->size) {
    long r = reserve(n, (uint64_t)len);
    if (r < 0) return r;
    memset((void *)(uintptr_t)(n->data + n->size), 0, (uint64_t)len - n->size);
  }
  n->size = (uint64_t)len;
  n->mtime_ns = now_realtime();
  return 0;
}

static void fill_stat(uint32_t i, uint8_t *out)
{
  const struct fnode *n = &nodes[i];
  memset(out, 0, 144);
  uint64_t dev = 0x70766d, ino = i + 1, nlink = IS_DIR(n->mode) ? 2 : 1, size = IS_DIR(n->mode) ? 4096 : n->size;
  uint64_t blksize = 4096, blocks = (size + 511) / 512;
  int64_t sec = n->mtime_ns / 1000000000, nsec = n->mtime_ns % 1000000000;
  memcpy(out + 0, &dev, 8);
  memcpy(out + 8, &ino, 8);
  memcpy(out + 16, &nlink, 8);
  memcpy(out + 24, &n->mode, 4);
  memcpy(out + 48, &size, 8);
  memcpy(out + 56, &blksize, 8);
  memcpy(out + 64, &blocks, 8);
  for (int t = 0; t < 3; t++) {  /* atime, mtime, ctime */
    memcpy(out + 72 + 16 * t, &sec, 8);
    memcpy(out + 80 + 16 * t, &nsec, 8);
  }
}

long linux_fs_fstat(uint32_t o, uint8_t *out) { fill_stat(st.ofiles[o].node, out); return 0; }

long linux_fs_fstatat(long dirfd, const char *path, uint8_t *out)
{
  struct walked w;
  long n = walk(dirfd, path, &w);
  if (n < 0) return n;
  fill_stat((uint32_t)n, out);
  return 0;
}

/* A directory's offset: 0 ".", 1 "..", then 2 + the node index to look at next. */
long linux_fs_getdents64(uint32_t o, uint8_t *buf, uint64_t count)
{
  struct ofile *f = &st.ofiles[o];
  uint32_t dir = f->node;
  if (!IS_DIR(nodes[dir].mode)) return -L_ENOTDIR;
  if (nodes[dir].parent == PVM_FILES_UNLINKED) return 0;
  uint64_t used = 0;
  for (;;) {
    const char *name;
    size_t len;
    uint64_t ino, next;
    uint8_t type;
    if (f->off == 0) name = ".", len = 1, ino = dir + 1, type = 4, next = 1;
    else if (f->off == 1) name = "..", len = 2, ino = nodes[dir].parent + 1, type = 4, next = 2;
    else {
      uint64_t i = f->off - 2;
      while (i < nnodes && !(i != 0 && nodes[i].mode && nodes[i].parent == dir)) i++;
      if (i >= nnodes) { f->off = nnodes + 2; break; }
      name = nodes[i].name, len = nodes[i].name_len, ino = i + 1, next = i + 3;
      type = IS_DIR(nodes[i].mode) ? 4 : 8;  /* DT_DIR, DT_REG */
      f->off = i + 2;
    }
    uint64_t reclen = ROUND8(19 + len + 1);
    if (used + reclen > count) {
      if (used == 0) return -L_EINVAL;
      break;
    }
    uint8_t *d = buf + used;
    int64_t doff = (int64_t)next;
    uint16_t rl = (uint16_t)reclen;
    memcpy(d, &ino, 8);
    memcpy(d + 8, &doff, 8);
    memcpy(d + 16, &rl, 2);
    d[18] = type;
    memcpy(d + 19, name, len);
    memset(d + 19 + len, 0, reclen - 19 - len);
    used += reclen;
    f->off = next;
  }
  return (long)used;
}

long linux_fs_is_dir_ofile(uint32_t o) { return IS_DIR(nodes[st.ofiles[o].node].mode); }

/* ---- the tree -------------------------------------------------------------------------- */

long linux_mkdirat(long dirfd, const char *path, long mode)
{
  struct walked w;
  long n = walk(dirfd, path, &w);
  if (n >= 0) return -L_EEXIST;
  if (n != -L_ENOENT || w.last_len == 0) return n;
  n = make_node(&w, S_IFDIR_L | ((uint32_t)mode & 07777 & ~022u));
  return n < 0 ? n : 0;
}

long linux_unlinkat(long dirfd, const char *path, long flags)
{
  struct walked w;
  long n = walk(dirfd, path, &w);
  if (n < 0) return n;
  if (flags & AT_REMOVEDIR_L) {
    if (!IS_DIR(nodes[n].mode)) return -L_ENOTDIR;
    if (n == 0) return -L_EBUSY;
    if (w.last_len == 1 && w.last[0] == '.') return -L_EINVAL;
    if (!dir_empty((uint32_t)n)) return -L_ENOTEMPTY;
  } else if (IS_DIR(nodes[n].mode)) {
    return -L_EISDIR;
  }
  nodes[nodes[n].parent].mtime_ns = now_realtime();
  if ((uint32_t)n == st.cwd) st.cwd = 0;
  unlink_node((uint32_t)n);
  return 0;
}

long linux_renameat(long olddirfd, const char *oldpath, long newdirfd, const char *newpath, long flags)
{
  if (flags) return -L_EINVAL;
  struct walked ow, nw;
  long from = walk(olddirfd, oldpath, &ow);
  if (from < 0) return from;
  long to = walk(newdirfd, newpath, &nw);
  if (to < 0 && (to != -L_ENOENT || nw.last_len == 0)) return to;
  if (from == 0 || (nw.last_len == 1 && nw.last[0] == '.') || (nw.last_len == 2 && nw.last[0] == '.' && nw.last[1] == '.'))
    return -L_EBUSY;
  if (to == from) return 0;
  if (IS_DIR(nodes[from].mode))  /* not into itself */
    for (uint32_t d = nw.dir;; d = nodes[d].parent) {
      if (d == (uint32_t)from) return -L_EINVAL;
      if (d == 0) break;
    }
  if (to >= 0) {
    if (IS_DIR(nodes[to].mode) && !IS_DIR(nodes[from].mode)) return -L_EISDIR;
    if (!IS_DIR(nodes[to].mode) && IS_DIR(nodes[from].mode)) return -L_ENOTDIR;
    if (IS_DIR(nodes[to].mode) && !dir_empty((uint32_t)to)) return -L_ENOTEMPTY;
    unlink_node((uint32_t)to);
  } else if (nw.slash && !IS_DIR(nodes[from].mode)) {
    return -L_ENOTDIR;
  }
  struct fnode *f = &nodes[from];
  f->parent = nw.dir;
  f->name_len = (uint32_t)nw.last_len;
  memcpy(f->name, nw.last, nw.last_len);
  f->name[nw.last_len] = 0;
  nodes[ow.dir].mtime_ns = nodes[nw.dir].mtime_ns = now_realtime();
  return 0;
}

long linux_faccessat(long dirfd, const char *path, long mode)
{
  struct walked w;
  long n = walk(dirfd, path, &w);
  if (n < 0) return n;
  if ((mode & 1) && !IS_DIR(nodes[n].mode) && !(nodes[n].mode & 0111)) return -L_EACCES;  /* X_OK */
  return 0;
}

long linux_chdir(const char *path)
{
  struct walked w;
  long n = walk(AT_FDCWD_L, path, &w);
  if (n < 0) return n;
  if (!IS_DIR(nodes[n].mode)) return -L_ENOTDIR;
  st.cwd = (uint32_t)n;
  return 0;
}

long linux_fchdir(long fd)
{
  long o = linux_fd_file_slot(fd);
  if (o < 0) return o == -L_EINVAL ? -L_ENOTDIR : o;
  if (!IS_DIR(nodes[st.ofiles[o].node].mode)) return -L_ENOTDIR;
  st.cwd = st.ofiles[o].node;
  return 0;
}

long linux_getcwd(char *buf, uint64_t size)
{
  char tmp[4096];
  uint64_t at = sizeof tmp;
  tmp[--at] = 0;
  for (uint32_t d = st.cwd; d != 0; d = nodes[d].parent) {
    if (d == PVM_FILES_UNLINKED || at < nodes[d].name_len + 2) return -L_ENOENT;
    at -= nodes[d].name_len;
    memcpy(tmp + at, nodes[d].name, nodes[d].name_len);
    tmp[--at] = '/';
  }
  if (at == sizeof tmp - 1) tmp[--at] = '/';
  uint64_t len = sizeof tmp - at;
  if (size < len) return -L_ERANGE;
  memcpy(buf, tmp + at, len);
  return (long)len;
}

long linux_readlinkat(long dirfd, const char *path, char *buf, uint64_t size)
{
  if (path && dirfd == AT_FDCWD_L && streq(path, "/proc/self/exe")) {
    const char *self = linux_self_path();
    uint64_t n = strlen(self);
    if (n > size) n = size;
    memcpy(buf, self, n);
    return (long)n;
  }
  struct walked w;
  long n = walk(dirfd, path, &w);
  return n < 0 ? n : -L_EINVAL;  /* nothing here is a symbolic link */
}

/* ---- fork and exec ------------------------------------------------------------------------ */

void linux_fs_save(uint8_t *out) { memcpy(out, &st, sizeof st); }
void linux_fs_restore(const uint8_t *in)
{
  memcpy(&st, in, sizeof st);
  for (uint32_t o = 0; o < MAX_OFILES; o++)  /* the archive has no open counts: count again */
    if (st.ofiles[o].refs && st.ofiles[o].node < nnodes) nodes[st.ofiles[o].node].opens++;
  if (st.cwd >= nnodes || !IS_DIR(nodes[st.cwd].mode)) st.cwd = 0;
}

/* Writes the tree out as an archive in memory of its own and names it in the handoff, for
 * the monitor to copy into the new image's RAM at EXEC. */
long linux_fs_pack(void)
{
  uint64_t bytes = sizeof(struct pvm_files_header);
  for (uint32_t i = 0; i < nnodes; i++)
    bytes += sizeof(struct pvm_files_entry) + ROUND8(nodes[i].name_len) + ROUND8(nodes[i].size);
  long at = alloc_pages(bytes);
  if (at < 0) return -L_ENOMEM;
  uint8_t *p = (uint8_t *)(uintptr_t)at;
  struct pvm_files_header h = {PVM_FILES_MAGIC, nnodes, bytes};
  memcpy(p, &h, sizeof h);
  uint64_t o = sizeof h;
  for (uint32_t i = 0; i < nnodes; i++) {
    const struct fnode *n = &nodes[i];
    struct pvm_files_entry e = {n->parent, n->mode, n->size, n->mtime_ns, n->name_len, 0};
    memcpy(p + o, &e, sizeof e);
    o += sizeof e;
    memcpy(p + o, n->name, n->name_len);
    o += ROUND8(n->name_len);  /* the padding is zero: fresh pages */
    if (n->size) memcpy(p + o, (const void *)(uintptr_t)n->data, n->size);
    o += ROUND8(n->size);
  }
  packed_gpa = (uint64_t)at;
  packed_len = bytes;
  linux_handoff.files_gpa = packed_gpa;
  linux_handoff.files_size = bytes;
  return 0;
}

/* The exec failed: this image goes on with its tree. */
void linux_fs_unpack(void)
{
  if (packed_len) linux_munmap(packed_gpa, packed_len);
  packed_gpa = packed_len = 0;
  linux_handoff.files_gpa = archive_gpa;
  linux_handoff.files_size = archive_size;
}
