/* The pVM's files (fs.c): a tree in guest RAM, and the open file descriptions fd.c's
 * FD_FILE descriptors name by index. */
#ifndef PVM_LINUX_FS_H
#define PVM_LINUX_FS_H

#include <stdint.h>

void linux_fs_init(uint64_t archive_gpa, uint64_t archive_size);  /* 0, 0: an empty root */
void linux_fs_save(uint8_t *out);        /* exec: cwd and open file descriptions */
void linux_fs_restore(const uint8_t *in);
long linux_fs_pack(void);                /* exec: the tree as an archive, named in the handoff */
void linux_fs_unpack(void);              /* the exec failed */

/* Paths (dirfd: a directory fd or AT_FDCWD). */
long linux_openat(long dirfd, const char *path, long flags, long mode);
long linux_fs_fstatat(long dirfd, const char *path, uint8_t *st);
long linux_mkdirat(long dirfd, const char *path, long mode);
long linux_unlinkat(long dirfd, const char *path, long flags);
long linux_renameat(long olddirfd, const char *oldpath, long newdirfd, const char *newpath, long flags);
long linux_faccessat(long dirfd, const char *path, long mode);
long linux_readlinkat(long dirfd, const char *path, char *buf, uint64_t size);
long linux_chdir(const char *path);
long linux_fchdir(long fd);
long linux_getcwd(char *buf, uint64_t size);

/* Open file descriptions (o: index; at < 0: at the description's offset, moving it). */
void linux_fs_ofile_ref(uint32_t o, int delta);  /* dup/close: the last close frees it */
uint32_t linux_fs_ofile_flags(uint32_t o);
void linux_fs_ofile_set_flags(uint32_t o, uint32_t keep_mask, uint32_t bits);
long linux_fs_read(uint32_t o, void *buf, uint64_t len, int64_t at);
long linux_fs_write(uint32_t o, const void *buf, uint64_t len, int64_t at);
long linux_fs_lseek(uint32_t o, int64_t off, long whence);
long linux_fs_ftruncate(uint32_t o, int64_t len);
long linux_fs_fstat(uint32_t o, uint8_t *st);
long linux_fs_getdents64(uint32_t o, uint8_t *buf, uint64_t count);

/* fd.c, for fs.c: a new FD_FILE descriptor for description o, and the description an fd
 * names (-EBADF; -EINVAL: not a file). */
long linux_fd_open_file(uint32_t o, long flags);
long linux_fd_file_slot(long fd);

#endif
