#include "monitor/backends/xen/owner_tag.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pvm::monitor::xen {

namespace {

constexpr uint8_t kMagic[4] = {'p', 'v', 'm', 0};

uint64_t StartTimeOf(uint32_t pid) {
  char path[32];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  char* p = strrchr(buf, ')');
  if (!p) return 0;
  p++;
  for (int field = 3; field <= 22; field++) {
    while (*p == ' ') p++;
    if (field == 22) return strtoull(p, nullptr, 10);
    while (*p && *p != ' ') p++;
  }
  return 0;
}

}  // namespace

OwnerTag OwnerTag::Self() { return {static_cast<uint32_t>(getpid()), StartTimeOf(getpid())}; }

void OwnerTag::Write(xen_domain_handle_t handle) const {
  memcpy(handle, kMagic, 4);
  memcpy(handle + 4, &pid, 4);
  memcpy(handle + 8, &start, 8);
}

bool OwnerTag::Read(const xen_domain_handle_t handle, OwnerTag* out) {
  if (memcmp(handle, kMagic, 4) != 0) return false;
  memcpy(&out->pid, handle + 4, 4);
  memcpy(&out->start, handle + 8, 8);
  return true;
}

bool OwnerTag::Alive() const { return kill(static_cast<pid_t>(pid), 0) == 0 && StartTimeOf(pid) == start; }

int SweepOrphans(xc_interface* xc) {
  xc_domaininfo_t infos[256];
  int n = xc_domain_getinfolist(xc, 1, 256, infos);
  int destroyed = 0;
  for (int i = 0; i < n; i++) {
    OwnerTag tag;
    if (!OwnerTag::Read(infos[i].handle, &tag) || tag.Alive()) continue;
    if (xc_domain_destroy(xc, infos[i].domain) == 0) destroyed++;
  }
  return destroyed;
}

}  // namespace pvm::monitor::xen
