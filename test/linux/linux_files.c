/* The pVM's files, seen from a musl program (test/linux-files.test.ts): linux_files CMD ... */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      printf("FAIL %s:%d: %s (errno %d)\n", __FILE__, __LINE__, #cond, errno);   \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)
#define FAILS_WITH(call, err) CHECK((call) == -1 && errno == (err))

static void put(const char *path, const char *text, int flags)
{
  int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
  CHECK(fd >= 0);
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  CHECK(close(fd) == 0);
}

static char *get(const char *path)
{
  static char buf[65536];
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  CHECK(n >= 0);
  buf[n] = 0;
  close(fd);
  return buf;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in dir, sorted, space-separated. */
static char *list(const char *dir)
{
  static char out[4096];
  char *names[256];
  int n = 0;
  DIR *d = opendir(dir);
  CHECK(d);
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof *names, cmp);
  out[0] = 0;
  for (int i = 0; i < n; i++) strcat(strcat(out, i ? " " : ""), names[i]);
  return out;
}

static int rw(void)
{
  CHECK(mkdir("/work", 0755) == 0);
  FAILS_WITH(mkdir("/work", 0755), EEXIST);
  put("/work/a.txt", "hello\n", O_TRUNC);
  CHECK(strcmp(get("/work/a.txt"), "hello\n") == 0);
  put("/work/a.txt", "world\n", O_APPEND);
  CHECK(strcmp(get("/work/a.txt"), "hello\nworld\n") == 0);
  put("/work/a.txt", "HE", 0);  /* no O_TRUNC: overwrites the start */
  CHECK(strcmp(get("/work/a.txt"), "HEllo\nworld\n") == 0);

  int fd = open("/work/a.txt", O_RDWR);
  CHECK(fd >= 0);
  char b[16] = {0};
  CHECK(pread(fd, b, 5, 6) == 5 && memcmp(b, "world", 5) == 0);
  CHECK(lseek(fd, 0, SEEK_CUR) == 0);
  CHECK(pwrite(fd, "W", 1, 6) == 1);
  CHECK(lseek(fd, -6, SEEK_END) == 6);
  CHECK(read(fd, b, 6) == 6 && memcmp(b, "World\n", 6) == 0);
  CHECK(read(fd, b, 6) == 0);
  int fd2 = dup(fd);  /* one open file description: one offset */
  CHECK(lseek(fd2, 2, SEEK_SET) == 2 && lseek(fd, 0, SEEK_CUR) == 2);
  struct stat st;
  CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 12);
  CHECK(ftruncate(fd, 5) == 0 && fstat(fd, &st) == 0 && st.st_size == 5);
  close(fd2);
  close(fd);
  CHECK(strcmp(get("/work/a.txt"), "HEllo") == 0);

  CHECK(stat("/work", &st) == 0 && S_ISDIR(st.st_mode));
  CHECK(stat("/work/a.txt", &st) == 0 && st.st_size == 5);
  FAILS_WITH(stat("/work/none", &st), ENOENT);
  FAILS_WITH(stat("/work/a.txt/x", &st), ENOTDIR);
  FAILS_WITH(open("/work/none/x", O_RDONLY), ENOENT);
  FAILS_WITH(open("/work/none", O_RDONLY), ENOENT);
  FAILS_WITH(open("/work", O_WRONLY), EISDIR);
  FAILS_WITH(open("/work/a.txt", O_RDONLY | O_DIRECTORY), ENOTDIR);
  FAILS_WITH(open("/work/a.txt", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
  FAILS_WITH(close(200), EBADF);
  FAILS_WITH(read(200, b, 1), EBADF);
  fd = open("/work/a.txt", O_RDONLY);
  FAILS_WITH(write(fd, "x", 1), EBADF);
  close(fd);
  CHECK(access("/work/a.txt", R_OK) == 0);
  FAILS_WITH(access("/work/b.txt", F_OK), ENOENT);

  put("/work/c.txt", "c", O_TRUNC);
  CHECK(mkdir("/work/sub", 0755) == 0);
  CHECK(strcmp(list("/work"), "a.txt c.txt sub") == 0);
  CHECK(rename("/work/a.txt", "/work/sub/b.txt") == 0);
  FAILS_WITH(access("/work/a.txt", F_OK), ENOENT);
  CHECK(strcmp(get("/work/sub/b.txt"), "HEllo") == 0);
  CHECK(rename("/work/c.txt", "/work/sub/b.txt") == 0);  /* replaces it */
  CHECK(strcmp(get("/work/sub/b.txt"), "c") == 0);
  CHECK(strcmp(list("/work"), "sub") == 0);
  FAILS_WITH(rmdir("/work/sub"), ENOTEMPTY);
  FAILS_WITH(unlink("/work/sub"), EISDIR);

  /* An unlinked file stays readable through an open descriptor. */
  fd = open("/work/sub/b.txt", O_RDONLY);
  CHECK(unlink("/work/sub/b.txt") == 0);
  FAILS_WITH(unlink("/work/sub/b.txt"), ENOENT);
  CHECK(read(fd, b, sizeof b) == 1 && b[0] == 'c');
  close(fd);
  CHECK(rmdir("/work/sub") == 0);

  char cwd[256];
  CHECK(chdir("/work") == 0 && getcwd(cwd, sizeof cwd) && strcmp(cwd, "/work") == 0);
  put("rel.txt", "relative", O_TRUNC);
  CHECK(strcmp(get("/work/rel.txt"), "relative") == 0);
  CHECK(strcmp(get("../work/./rel.txt"), "relative") == 0);
  CHECK(chdir("/") == 0 && getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0);
  FAILS_WITH(chdir("/work/rel.txt"), ENOTDIR);

  char self[256];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  CHECK(n > 0);
  self[n] = 0;
  printf("exe=%s\n", self);
  /* /dev/null */
  fd = open("/dev/null", O_RDWR);
  CHECK(fd >= 0 && write(fd, "x", 1) == 1 && read(fd, b, 1) == 0);
  close(fd);
  printf("rw ok\n");
  return 0;
}

/* A fork child sees the parent's files; what it writes stays its own. */
static int forked(void)
{
  put("/f.txt", "parent", O_TRUNC);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    CHECK(strcmp(get("/f.txt"), "parent") == 0);
    put("/f.txt", "child", O_TRUNC);
    put("/child-only", "x", O_TRUNC);
    CHECK(strcmp(get("/f.txt"), "child") == 0);
    printf("child saw parent, wrote its own\n");
    fflush(stdout);
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(strcmp(get("/f.txt"), "parent") == 0);
  FAILS_WITH(access("/child-only", F_OK), ENOENT);
  printf("fork ok\n");
  return 0;
}

/* execve keeps the files and the open descriptors (their offsets too). */
static int execd(const char *self)
{
  put("/e.txt", "kept across exec\n", O_TRUNC);
  int fd = open("/e.txt", O_RDONLY);
  CHECK(fd >= 0);
  char b[5];
  CHECK(read(fd, b, 5) == 5);  /* the offset goes across too */
  CHECK(dup2(fd, 0) == 0);
  close(fd);
  char *argv[] = {"linux_files", "stdin", NULL};
  char *envp[] = {NULL};
  execve(self, argv, envp);
  printf("FAIL execve: errno %d\n", errno);
  return 1;
}

static int from_stdin(void)
{
  char b[256];
  ssize_t n = read(0, b, sizeof b - 1);
  CHECK(n > 0);
  b[n] = 0;
  printf("stdin: %s", b);
  printf("file: %s", get("/e.txt"));
  return 0;
}

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *cmd = argc > 1 ? argv[1] : "";
  if (!strcmp(cmd, "rw")) return rw();
  if (!strcmp(cmd, "fork")) return forked();
  if (!strcmp(cmd, "exec")) return execd(argv[0]);
  if (!strcmp(cmd, "stdin")) return from_stdin();
  if (!strcmp(cmd, "cat") && argc > 2) {
    char *t = get(argv[2]);
    if (!t) { printf("cat %s: errno %d\n", argv[2], errno); return 2; }
    fputs(t, stdout);
    return 0;
  }
  if (!strcmp(cmd, "write") && argc > 3) { put(argv[2], argv[3], O_TRUNC); printf("wrote %s\n", argv[2]); return 0; }
  if (!strcmp(cmd, "ls") && argc > 2) { printf("ls: %s\n", list(argv[2])); return 0; }
  printf("usage: linux_files rw|fork|exec|cat PATH|write PATH TEXT|ls DIR\n");
  return 2;
}
