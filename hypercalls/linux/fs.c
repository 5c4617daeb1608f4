/*
 * The file calls over the pVM's tree (fs_tree.c): open, read, write, seek, stat,
 * getdents, mkdir, unlink, rename, access, cwd, readlink. Open file descriptions (offset,
 * flags) are shared by dup'd fds, as on Linux; a fork child gets its own copies.
 */
#include "fs_tree.h"

/* ---- open files -------------------------------------------------------------------------- */

long linux_openat(long dirfd, const char *path, long flags, long mode)
{
  if (path && fs_streq(path, "/dev/null")) return linux_fd_open_null(flags);
  struct fs_walked w;
  long n = fs_walk(dirfd, path, &w);
  long acc = flags & O_ACCMODE_L;
  if (n >= 0) {
    if ((flags & O_CREAT_L) && (flags & O_EXCL_L)) return -L_EEXIST;
    if (IS_DIR(fs_nodes[n].mode) && (acc != 0 || (flags & (O_TRUNC_L | O_CREAT_L)))) return -L_EISDIR;
    if (!IS_DIR(fs_nodes[n].mode) && (flags & O_DIRECTORY_L)) return -L_ENOTDIR;
  } else {
    if (n != -L_ENOENT || !(flags & O_CREAT_L) || w.last_len == 0) return n;
    if (w.slash) return -L_EISDIR;
    n = fs_make_node(&w, S_IFREG_L | ((uint32_t)mode & 07777 & ~022u));
    if (n < 0) return n;
  }
  if ((flags & O_TRUNC_L) && acc != 0 && IS_REG(fs_nodes[n].mode)) {
    fs_free_bytes(&fs_nodes[n]);
    fs_nodes[n].mtime_ns = fs_now_realtime();
  }
  long o = -1;
  for (long i = 0; i < MAX_OFILES; i++)
    if (fs_st.ofiles[i].refs == 0) { o = i; break; }
  if (o < 0) return -L_ENFILE;
  long fd = linux_fd_open_file((uint32_t)o, flags);
  if (fd < 0) return fd;
  fs_st.ofiles[o] = (struct ofile){(uint32_t)n, (uint32_t)flags & ~(uint32_t)(O_CREAT_L | O_EXCL_L | O_TRUNC_L), 1, 0, 0};
  fs_nodes[n].opens++;
  return fd;
}

void linux_fs_ofile_ref(uint32_t o, int delta)
{
  struct ofile *f = &fs_st.ofiles[o];
  f->refs += (uint32_t)delta;
  if (f->refs) return;
  struct fnode *n = &fs_nodes[f->node];
  if (--n->opens == 0 && n->parent == PVM_FILES_UNLINKED) fs_drop_node(f->node);
}

uint32_t linux_fs_ofile_flags(uint32_t o) { return fs_st.ofiles[o].flags; }
void linux_fs_ofile_set_flags(uint32_t o, uint32_t keep_mask, uint32_t bits)
{
  fs_st.ofiles[o].flags = (fs_st.ofiles[o].flags & keep_mask) | bits;
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
  long at = fs_alloc_pages(want);
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
  n->mtime_ns = fs_now_realtime();
  return (long)len;
}

long linux_fs_read(uint32_t o, void *buf, uint64_t len, int64_t at)
{
  struct ofile *f = &fs_st.ofiles[o];
  if ((f->flags & O_ACCMODE_L) == O_WRONLY_L) return -L_EBADF;
  long r = read_at(&fs_nodes[f->node], buf, len, at < 0 ? f->off : (uint64_t)at);
  if (r > 0 && at < 0) f->off += (uint64_t)r;
  return r;
}

long linux_fs_write(uint32_t o, const void *buf, uint64_t len, int64_t at)
{
  struct ofile *f = &fs_st.ofiles[o];
  if ((f->flags & O_ACCMODE_L) == 0) return -L_EBADF;
  struct fnode *n = &fs_nodes[f->node];
  uint64_t off = at >= 0 ? (uint64_t)at : (f->flags & O_APPEND_L) ? n->size : f->off;
  long r = write_at(n, buf, len, off);
  if (r > 0 && at < 0) f->off = off + (uint64_t)r;
  return r;
}

long linux_fs_lseek(uint32_t o, int64_t off, long whence)
{
  struct ofile *f = &fs_st.ofiles[o];
  int64_t base = whence == 0 ? 0 : whence == 1 ? (int64_t)f->off : whence == 2 ? (int64_t)fs_nodes[f->node].size : -1;
  if (base < 0 || (IS_DIR(fs_nodes[f->node].mode) && whence != 0)) return -L_EINVAL;
  if (base + off < 0) return -L_EINVAL;
  f->off = (uint64_t)(base + off);
  return (long)f->off;
}

long linux_fs_ftruncate(uint32_t o, int64_t len)
{
  struct ofile *f = &fs_st.ofiles[o];
  struct fnode *n = &fs_nodes[f->node];
  if (len < 0 || !IS_REG(n->mode)) return -L_EINVAL;
  if ((f->flags & O_ACCMODE_L) == 0) return -L_EINVAL;
  if ((uint64_t)len > n->size) {
    long r = reserve(n, (uint64_t)len);
    if (r < 0) return r;
    memset((void *)(uintptr_t)(n->data + n->size), 0, (uint64_t)len - n->size);
  }
  n->size = (uint64_t)len;
  n->mtime_ns = fs_now_realtime();
  return 0;
}

static void fill_stat(uint32_t i, uint8_t *out)
{
  const struct fnode *n = &fs_nodes[i];
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

long linux_fs_fstat(uint32_t o, uint8_t *out) { fill_stat(fs_st.ofiles[o].node, out); return 0; }

long linux_fs_fstatat(long dirfd, const char *path, uint8_t *out)
{
  struct fs_walked w;
  long n = fs_walk(dirfd, path, &w);
  if (n < 0) return n;
  fill_stat((uint32_t)n, out);
  return 0;
}

/* A directory's offset: 0 ".", 1 "..", then 2 + the node index to look at next. */
long linux_fs_getdents64(uint32_t o, uint8_t *buf, uint64_t count)
{
  struct ofile *f = &fs_st.ofiles[o];
  uint32_t dir = f->node;
  if (!IS_DIR(fs_nodes[dir].mode)) return -L_ENOTDIR;
  if (fs_nodes[dir].parent == PVM_FILES_UNLINKED) return 0;
  uint64_t used = 0;
  for (;;) {
    const char *name;
    size_t len;
    uint64_t ino, next;
    uint8_t type;
    if (f->off == 0) name = ".", len = 1, ino = dir + 1, type = 4, next = 1;
    else if (f->off == 1) name = "..", len = 2, ino = fs_nodes[dir].parent + 1, type = 4, next = 2;
    else {
      uint64_t i = f->off - 2;
      while (i < fs_nnodes && !(i != 0 && fs_nodes[i].mode && fs_nodes[i].parent == dir)) i++;
      if (i >= fs_nnodes) { f->off = fs_nnodes + 2; break; }
      name = fs_nodes[i].name, len = fs_nodes[i].name_len, ino = i + 1, next = i + 3;
      type = IS_DIR(fs_nodes[i].mode) ? 4 : 8;  /* DT_DIR, DT_REG */
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

long linux_fs_is_dir_ofile(uint32_t o) { return IS_DIR(fs_nodes[fs_st.ofiles[o].node].mode); }

/* ---- the tree -------------------------------------------------------------------------- */

long linux_mkdirat(long dirfd, const char *path, long mode)
{
  struct fs_walked w;
  long n = fs_walk(dirfd, path, &w);
  if (n >= 0) return -L_EEXIST;
  if (n != -L_ENOENT || w.last_len == 0) return n;
  n = fs_make_node(&w, S_IFDIR_L | ((uint32_t)mode & 07777 & ~022u));
  return n < 0 ? n : 0;
}

long linux_unlinkat(long dirfd, const char *path, long flags)
{
  struct fs_walked w;
  long n = fs_walk(dirfd, path, &w);
  if (n < 0) return n;
  if (flags & AT_REMOVEDIR_L) {
    if (!IS_DIR(fs_nodes[n].mode)) return -L_ENOTDIR;
    if (n == 0) return -L_EBUSY;
    if (w.last_len == 1 && w.last[0] == '.') return -L_EINVAL;
    if (!fs_dir_empty((uint32_t)n)) return -L_ENOTEMPTY;
  } else if (IS_DIR(fs_nodes[n].mode)) {
    return -L_EISDIR;
  }
  fs_nodes[fs_nodes[n].parent].mtime_ns = fs_now_realtime();
  if ((uint32_t)n == fs_st.cwd) fs_st.cwd = 0;
  fs_unlink_node((uint32_t)n);
  return 0;
}

long linux_renameat(long olddirfd, const char *oldpath, long newdirfd, const char *newpath, long flags)
{
  if (flags) return -L_EINVAL;
  struct fs_walked ow, nw;
  long from = fs_walk(olddirfd, oldpath, &ow);
  if (from < 0) return from;
  long to = fs_walk(newdirfd, newpath, &nw);
  if (to < 0 && (to != -L_ENOENT || nw.last_len == 0)) return to;
  if (from == 0 || (nw.last_len == 1 && nw.last[0] == '.') || (nw.last_len == 2 && nw.last[0] == '.' && nw.last[1] == '.'))
    return -L_EBUSY;
  if (to == from) return 0;
  if (IS_DIR(fs_nodes[from].mode))  /* not into itself */
    for (uint32_t d = nw.dir;; d = fs_nodes[d].parent) {
      if (d == (uint32_t)from) return -L_EINVAL;
      if (d == 0) break;
    }
  if (to >= 0) {
    if (IS_DIR(fs_nodes[to].mode) && !IS_DIR(fs_nodes[from].mode)) return -L_EISDIR;
    if (!IS_DIR(fs_nodes[to].mode) && IS_DIR(fs_nodes[from].mode)) return -L_ENOTDIR;
    if (IS_DIR(fs_nodes[to].mode) && !fs_dir_empty((uint32_t)to)) return -L_ENOTEMPTY;
    fs_unlink_node((uint32_t)to);
  } else if (nw.slash && !IS_DIR(fs_nodes[from].mode)) {
    return -L_ENOTDIR;
  }
  struct fnode *f = &fs_nodes[from];
  f->parent = nw.dir;
  f->name_len = (uint32_t)nw.last_len;
  memcpy(f->name, nw.last, nw.last_len);
  f->name[nw.last_len] = 0;
  fs_nodes[ow.dir].mtime_ns = fs_nodes[nw.dir].mtime_ns = fs_now_realtime();
  return 0;
}

long linux_faccessat(long dirfd, const char *path, long mode)
{
  struct fs_walked w;
  long n = fs_walk(dirfd, path, &w);
  if (n < 0) return n;
  if ((mode & 1) && !IS_DIR(fs_nodes[n].mode) && !(fs_nodes[n].mode & 0111)) return -L_EACCES;  /* X_OK */
  return 0;
}

long linux_chdir(const char *path)
{
  struct fs_walked w;
  long n = fs_walk(AT_FDCWD_L, path, &w);
  if (n < 0) return n;
  if (!IS_DIR(fs_nodes[n].mode)) return -L_ENOTDIR;
  fs_st.cwd = (uint32_t)n;
  return 0;
}

long linux_fchdir(long fd)
{
  long o = linux_fd_file_slot(fd);
  if (o < 0) return o == -L_EINVAL ? -L_ENOTDIR : o;
  if (!IS_DIR(fs_nodes[fs_st.ofiles[o].node].mode)) return -L_ENOTDIR;
  fs_st.cwd = fs_st.ofiles[o].node;
  return 0;
}

long linux_getcwd(char *buf, uint64_t size)
{
  char tmp[4096];
  uint64_t at = sizeof tmp;
  tmp[--at] = 0;
  for (uint32_t d = fs_st.cwd; d != 0; d = fs_nodes[d].parent) {
    if (d == PVM_FILES_UNLINKED || at < fs_nodes[d].name_len + 2) return -L_ENOENT;
    at -= fs_nodes[d].name_len;
    memcpy(tmp + at, fs_nodes[d].name, fs_nodes[d].name_len);
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
  if (path && dirfd == AT_FDCWD_L && fs_streq(path, "/proc/self/exe")) {
    const char *self = linux_self_path();
    uint64_t n = strlen(self);
    if (n > size) n = size;
    memcpy(buf, self, n);
    return (long)n;
  }
  struct fs_walked w;
  long n = fs_walk(dirfd, path, &w);
  return n < 0 ? n : -L_EINVAL;  /* nothing here is a symbolic link */
}
