/*
 * execve: the EXEC hypercall replaces the pVM's image in place (same pVM id, family,
 * channels and shared regions). The program is found by name: the path's last
 * component, looked up by the host in the directory of the pVM's image, then its
 * imagePath; "/proc/self/exe" is the pVM's own image. When the pVM's image is busybox
 * and the name is no image there, busybox runs it (it picks the applet by argv[0]):
 * that is how busybox sh runs the commands of a pipeline.
 *
 * The pVM's files go across too: fs.c writes its tree out as an archive just before EXEC
 * and names it in the handoff, and the monitor copies it into the new image's RAM; the
 * cwd and open file descriptions (which the descriptors name) ride in the region.
 *
 * What a Linux process keeps across exec and the new image's personality must learn --
 * its descriptors, environment, children, ignored signals and its image's name -- goes
 * into a shared region made just before EXEC (regions survive exec); the new
 * personality reads it at start and closes it. On failure it is closed at once and
 * the old image goes on.
 */
#include "linux.h"
#include "fs.h"

#define EXEC_MAGIC 0x6365786cu  /* "lxec" */
#define MAX_ENV_BYTES (128u << 10)
#define MAX_ENV 2048

struct exec_state {
  uint32_t magic, envc;
  uint64_t env_bytes;
  uint64_t ignored;   /* signals set to SIG_IGN (exec keeps them ignored; handlers reset) */
  uint64_t blocked;   /* the signal mask (exec keeps it) */
  char self[256];     /* the image's name, for finding it again */
  char path[256];     /* the path execve was given, for readlink("/proc/self/exe") */
  uint8_t files[LINUX_FS_STATE_SIZE];
  uint8_t fds[LINUX_FD_STATE_SIZE];
  uint8_t children[LINUX_CHILDREN_STATE_SIZE];
  uint64_t stdin_bytes;  /* standard input taken from the host, not read yet (stdin.c): after env */
  char env[];         /* envc NUL-terminated strings */
};

static char self_name[256];
static char self_path[256];

const char *linux_self_path(void) { return self_path; }
static char exec_name[256];  /* EXEC reads the name from RAM (a region is not RAM) */
static long state_slot = -1;

static const char *base_name(const char *path)
{
  const char *b = path;
  for (const char *p = path; *p; p++)
    if (*p == '/' && p[1]) b = p + 1;
  return b;
}

static void set_name(char *dst, const char *name)
{
  size_t n = strlen(name);
  if (n > 255) n = 255;
  memcpy(dst, name, n);
  dst[n] = 0;
}

/* Linux's answer is absolute (glibc asserts it): a relative path gets a leading '/'. */
static void set_path(char *dst, const char *path)
{
  while (path[0] == '.' && path[1] == '/') path += 2;
  size_t at = path[0] == '/' ? 0 : 1, n = strlen(path);
  if (n > 255 - at) n = 255 - at;
  dst[0] = '/';
  memcpy(dst + at, path, n);
  dst[at + n] = 0;
}

static int streq(const char *a, const char *b)
{
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

const struct exec_state *linux_exec_state(const char *argv0)
{
  const struct pvm_boot_info *bi = linux_boot;
  for (uint32_t s = 0; s < bi->channel_slots; s++) {
    const volatile struct pvm_channel_entry *e = pvm_channel_table_entry(s);
    if (!e || e->state != PVM_CHANNEL_STATE_SHM)
      continue;
    const struct exec_state *st = pvm_channel_base(s);
    if (st->magic != EXEC_MAGIC)
      continue;
    state_slot = s;
    set_name(self_name, st->self);
    set_path(self_path, st->path);
    linux_fs_restore(st->files);
    linux_fd_restore(st->fds);
    linux_children_restore(st->children);
    linux_stdin_restore((const uint8_t *)st->env + st->env_bytes, (uint32_t)st->stdin_bytes);
    for (int sig = 1; sig < 64; sig++)
      if (st->ignored >> sig & 1) {
        uint64_t ign = 1;  /* SIG_IGN */
        memcpy(linux_sigactions[sig], &ign, 8);
      }
    linux_signal_exec_restore(st->blocked);
    return st;
  }
  set_name(self_name, base_name(argv0 ? argv0 : ""));  /* spawned: argv[0] is the image path */
  set_path(self_path, argv0 ? argv0 : "");
  return 0;
}

uint32_t linux_exec_env(const struct exec_state *st, const char **out, uint32_t max)
{
  if (!st) return 0;
  const char *p = st->env;
  uint32_t n = 0;
  for (; n < st->envc && n < max; n++) {
    out[n] = p;
    p += strlen(p) + 1;
  }
  return n;
}

void linux_exec_done(void)
{
  if (state_slot >= 0)
    (void)pvm_hypercall1(PVM_HC_CLOSE, state_slot);
  state_slot = -1;
  linux_fd_exec();  /* O_CLOEXEC descriptors close now: exec has happened */
}

static long exec_errno(long r)
{
  switch (r) {
    case -PVM_ENOENT: return -L_ENOENT;
    case -PVM_ENOEXEC: return -L_ENOEXEC;
    case -PVM_E2BIG: return -L_E2BIG;
    case -PVM_EFAULT: return -L_EFAULT;
    case -PVM_EINTR: return -L_EINTR;
    default: return -L_ENOMEM;
  }
}

long linux_execve(const char *path, char *const argv[], char *const envp[])
{
  if (!path)
    return -L_EFAULT;
  const char *name = streq(path, "/proc/self/exe") ? self_name : base_name(path);
  if (!*name)
    return -L_ENOENT;
  uint64_t env_bytes = 0, envc = 0;
  for (; envp && envp[envc]; envc++) {
    env_bytes += strlen(envp[envc]) + 1;
    if (env_bytes > MAX_ENV_BYTES || envc >= MAX_ENV)
      return -L_E2BIG;
  }
  uint64_t stdin_bytes = linux_stdin_buffered();
  long slot = pvm_hypercall1(PVM_HC_SHM_CREATE, (long)(sizeof(struct exec_state) + env_bytes + stdin_bytes));
  if (slot < 0)
    return slot == -PVM_EAGAIN ? -L_EMFILE : -L_ENOMEM;
  struct exec_state *st = pvm_channel_base((uint32_t)slot);
  st->envc = (uint32_t)envc;
  st->env_bytes = env_bytes;
  st->ignored = 0;
  st->blocked = linux_signal_blocked();
  for (int sig = 1; sig < 64; sig++) {
    uint64_t handler;
    memcpy(&handler, linux_sigactions[sig], 8);
    if (handler == 1) st->ignored |= 1ull << sig;
  }
  linux_fd_save(st->fds);
  linux_fs_save(st->files);
  set_name(st->path, streq(path, "/proc/self/exe") ? self_path : path);
  linux_children_save(st->children);
  char *p = st->env;
  for (uint64_t i = 0; i < envc; i++) {
    size_t n = strlen(envp[i]) + 1;
    memcpy(p, envp[i], n);
    p += n;
  }
  st->stdin_bytes = linux_stdin_save((uint8_t *)p);
  st->magic = EXEC_MAGIC;
  set_name(exec_name, name);
  set_name(st->self, name);
  if (linux_fs_pack() < 0) {
    (void)pvm_hypercall1(PVM_HC_CLOSE, slot);
    return -L_ENOMEM;
  }
  long r = pvm_hypercall3(PVM_HC_EXEC, (long)(uintptr_t)exec_name, (long)(uintptr_t)argv, 0);
  if (r == -PVM_ENOENT && streq(self_name, "busybox") && !streq(name, self_name)) {
    set_name(exec_name, self_name);  /* busybox runs the applet argv[0] names */
    set_name(st->self, self_name);
    r = pvm_hypercall3(PVM_HC_EXEC, (long)(uintptr_t)exec_name, (long)(uintptr_t)argv, 0);
  }
  /* Still here: it failed, this image goes on. */
  linux_fs_unpack();
  (void)pvm_hypercall1(PVM_HC_CLOSE, slot);
  return exec_errno(r);
}
