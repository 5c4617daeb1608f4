/*
 * The pVM's files: a tree in its own RAM (this file: the node table, paths, and the
 * archive in and out; fs.c serves the file calls over it). The monitor puts an archive
 * (handoff.h) at the top of the heap area; this file indexes it into a node table.
 * A file's bytes stay in the archive until it is first written, then move to memory of
 * its own (anonymous mmap). Everything is guest RAM, so a fork child gets a
 * copy-on-write copy of the whole tree for free and its writes are its own; an exec
 * keeps the tree because fs_pack() writes it out as a new archive the monitor copies
 * into the new image's RAM (node indices survive, so do open files).
 *
 * The tree has regular files and directories only; the caller is root (access always
 * answers by existence).
 */
#include "fs_tree.h"

struct fnode *fs_nodes;
uint32_t fs_nnodes;
static uint32_t node_cap;
struct fs_state fs_st;
static uint64_t archive_gpa, archive_size;  /* the one this image started from */
static uint64_t packed_gpa, packed_len;     /* fs_pack's, while an exec is tried */

long fs_alloc_pages(uint64_t len) { return linux_mmap(0, len, 3, MAP_PRIVATE_ANON, -1, 0); }

int64_t fs_now_realtime(void) { return (int64_t)(linux_now_ns() + linux_handoff.realtime_offset_ns); }

static int same(const char *a, const char *b, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

int fs_streq(const char *a, const char *b)
{
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static long append_node(void)
{
  if (fs_nnodes == node_cap) {
    uint64_t old = (uint64_t)node_cap * sizeof *fs_nodes, want = old ? old * 2 : 64 * sizeof *fs_nodes;
    long moved = old ? linux_mremap((uint64_t)(uintptr_t)fs_nodes, old, want, 1) : fs_alloc_pages(want);
    if (moved < 0) return -L_ENOSPC;
    fs_nodes = (struct fnode *)(uintptr_t)moved;
    node_cap = (uint32_t)(want / sizeof *fs_nodes);
  }
  return fs_nnodes++;
}

static long new_node(void)
{
  for (uint32_t i = 1; i < fs_nnodes; i++)
    if (fs_nodes[i].mode == 0) return i;
  return append_node();
}

void fs_free_bytes(struct fnode *n)
{
  if (n->cap) linux_munmap(n->data, n->cap);
  n->data = n->size = n->cap = 0;
}

void fs_drop_node(uint32_t i)
{
  fs_free_bytes(&fs_nodes[i]);
  memset(&fs_nodes[i], 0, sizeof fs_nodes[i]);
}

/* Indexes the archive at gpa; anything malformed ends the index where it is. */
void linux_fs_init(uint64_t gpa, uint64_t size)
{
  archive_gpa = gpa;
  archive_size = size;
  long r = append_node();  /* the root: always node 0 */
  if (r != 0) return;
  fs_nodes[0] = (struct fnode){.parent = 0, .mode = S_IFDIR_L | 0755, .mtime_ns = fs_now_realtime()};
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
    struct fnode *f = &fs_nodes[i];
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
  if (n == 2 && s[0] == '.' && s[1] == '.') return fs_nodes[dir].parent;
  for (uint32_t i = 1; i < fs_nnodes; i++)
    if (fs_nodes[i].mode && fs_nodes[i].parent == dir && fs_nodes[i].name_len == n && same(fs_nodes[i].name, s, n))
      return i;
  return -L_ENOENT;
}


static long start_of(long dirfd, const char *path, uint32_t *out)
{
  if (path[0] == '/') { *out = 0; return 0; }
  if (dirfd == AT_FDCWD_L) { *out = fs_st.cwd; return 0; }
  long n = linux_fd_file_slot(dirfd);
  if (n < 0) return n == -L_EINVAL ? -L_ENOTDIR : n;
  *out = fs_st.ofiles[n].node;
  return IS_DIR(fs_nodes[*out].mode) ? 0 : -L_ENOTDIR;
}

long fs_walk(long dirfd, const char *path, struct fs_walked *w)
{
  w->last_len = 0;
  w->slash = 0;
  if (!path) return -L_EFAULT;
  if (!*path) return -L_ENOENT;
  uint32_t cur;
  long r = start_of(dirfd, path, &cur);
  if (r < 0) return r;
  const char *p = path;
  w->dir = fs_nodes[cur].parent;
  w->last = ".";
  w->last_len = 1;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) return cur;  /* "/" or a path ending in '/': the directory itself */
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t n = (size_t)(p - s);
    if (n > NAME_MAX_L) return -L_ENAMETOOLONG;
    if (!IS_DIR(fs_nodes[cur].mode)) return -L_ENOTDIR;
    const char *q = p;
    while (*q == '/') q++;
    long next = lookup(cur, s, n);
    if (!*q) {
      w->dir = cur, w->last = s, w->last_len = n, w->slash = *p == '/';
      if (next >= 0 && w->slash && !IS_DIR(fs_nodes[next].mode)) return -L_ENOTDIR;
      return next;
    }
    if (next < 0) { w->last_len = 0; return next; }
    cur = (uint32_t)next;
  }
}

long fs_make_node(const struct fs_walked *w, uint32_t mode)
{
  if (w->last_len == 0) return -L_ENOENT;
  long n = new_node();
  if (n < 0) return n;
  struct fnode *f = &fs_nodes[n];
  memset(f, 0, sizeof *f);
  f->parent = w->dir;
  f->mode = mode;
  f->mtime_ns = fs_now_realtime();
  f->name_len = (uint32_t)w->last_len;
  memcpy(f->name, w->last, w->last_len);
  fs_nodes[w->dir].mtime_ns = f->mtime_ns;
  return n;
}

int fs_dir_empty(uint32_t dir)
{
  for (uint32_t i = 1; i < fs_nnodes; i++)
    if (fs_nodes[i].mode && fs_nodes[i].parent == dir) return 0;
  return 1;
}

/* Out of the tree: gone now, or when its last open description closes. */
void fs_unlink_node(uint32_t i)
{
  if (fs_nodes[i].opens) fs_nodes[i].parent = PVM_FILES_UNLINKED;
  else fs_drop_node(i);
}

/* ---- fork and exec ------------------------------------------------------------------------ */

void linux_fs_save(uint8_t *out) { memcpy(out, &fs_st, sizeof fs_st); }
void linux_fs_restore(const uint8_t *in)
{
  memcpy(&fs_st, in, sizeof fs_st);
  for (uint32_t o = 0; o < MAX_OFILES; o++)  /* the archive has no open counts: count again */
    if (fs_st.ofiles[o].refs && fs_st.ofiles[o].node < fs_nnodes) fs_nodes[fs_st.ofiles[o].node].opens++;
  if (fs_st.cwd >= fs_nnodes || !IS_DIR(fs_nodes[fs_st.cwd].mode)) fs_st.cwd = 0;
}

/* Writes the tree out as an archive in memory of its own and names it in the handoff, for
 * the monitor to copy into the new image's RAM at EXEC. */
long linux_fs_pack(void)
{
  uint64_t bytes = sizeof(struct pvm_files_header);
  for (uint32_t i = 0; i < fs_nnodes; i++)
    bytes += sizeof(struct pvm_files_entry) + ROUND8(fs_nodes[i].name_len) + ROUND8(fs_nodes[i].size);
  long at = fs_alloc_pages(bytes);
  if (at < 0) return -L_ENOMEM;
  uint8_t *p = (uint8_t *)(uintptr_t)at;
  struct pvm_files_header h = {PVM_FILES_MAGIC, fs_nnodes, bytes};
  memcpy(p, &h, sizeof h);
  uint64_t o = sizeof h;
  for (uint32_t i = 0; i < fs_nnodes; i++) {
    const struct fnode *n = &fs_nodes[i];
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
