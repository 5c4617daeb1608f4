/* Inside the files (fs.h): the node table and the open file descriptions that
 * fs_tree.c keeps (the tree, its paths, the archive in and out) and fs.c's file calls
 * use. Not for the rest of the personality. */
#ifndef PVM_LINUX_FS_TREE_H
#define PVM_LINUX_FS_TREE_H

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

extern struct fnode *fs_nodes;  /* node 0 is the root */
extern uint32_t fs_nnodes;
extern struct fs_state fs_st;

long fs_alloc_pages(uint64_t len);  /* anonymous memory of the program's own */
int64_t fs_now_realtime(void);
int fs_streq(const char *a, const char *b);
void fs_free_bytes(struct fnode *n);
void fs_drop_node(uint32_t i);

struct fs_walked {
  uint32_t dir;      /* the directory the last component is (or would be) in */
  const char *last;  /* that component (not NUL-terminated) */
  size_t last_len;
  int slash;         /* the path ended in '/' */
};

/* The node `path` names, or -error; w says where its last component is (valid when the
 * result is the node or -ENOENT for the last component alone: then w->last_len > 0). */
long fs_walk(long dirfd, const char *path, struct fs_walked *w);
long fs_make_node(const struct fs_walked *w, uint32_t mode);  /* a new entry where w points */
int fs_dir_empty(uint32_t dir);
void fs_unlink_node(uint32_t i);  /* out of the tree: now, or at its last close */

#endif
