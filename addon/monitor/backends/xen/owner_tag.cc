#include "monitor/backends/xen/owner_tag.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

namespace pvm::monitor::xen {

namespace {

constexpr uint8_t kMagic[3] = {'p', 'v', 'm'};
constexpr uint8_t kOwned = 0, kTemplate = 'T';
constexpr uint64_t kStartMask = (uint64_t{1} << 48) - 1;

// Every domain but dom0 (up to a bound well past what 2 GiB of guests make).
std::vector<xc_domaininfo_t> AllDomains(xc_interface* xc) {
  std::vector<xc_domaininfo_t> out;
  xc_domaininfo_t batch[128];
  uint32_t next = 1;
  for (;;) {
    int n = xc_domain_getinfolist(xc, next, 128, batch);
    if (n <= 0) break;
    out.insert(out.end(), batch, batch + n);
    next = batch[n - 1].domain + 1;
    if (n < 128 || out.size() >= 4096) break;
  }
  return out;
}

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

OwnerTag OwnerTag::Self(uint16_t parent) {
  OwnerTag t;
  t.pid = static_cast<uint32_t>(getpid());
  t.start = StartTimeOf(getpid()) & kStartMask;
  t.parent = parent;
  return t;
}

OwnerTag OwnerTag::Template(uint16_t parent) {
  OwnerTag t;
  t.parent = parent;
  t.is_template = true;
  return t;
}

void OwnerTag::Write(xen_domain_handle_t handle) const {
  memcpy(handle, kMagic, 3);
  handle[3] = is_template ? kTemplate : kOwned;
  memcpy(handle + 4, &pid, 4);
  uint64_t s = start & kStartMask;
  memcpy(handle + 8, &s, 6);
  memcpy(handle + 14, &parent, 2);
}

bool OwnerTag::Read(const xen_domain_handle_t handle, OwnerTag* out) {
  if (memcmp(handle, kMagic, 3) != 0 || (handle[3] != kOwned && handle[3] != kTemplate)) return false;
  *out = OwnerTag{};
  out->is_template = handle[3] == kTemplate;
  memcpy(&out->pid, handle + 4, 4);
  memcpy(&out->start, handle + 8, 6);
  memcpy(&out->parent, handle + 14, 2);
  return true;
}

bool Retag(xc_interface* xc, uint32_t domid, const OwnerTag& tag) {
  xen_domain_handle_t handle;
  tag.Write(handle);
  return xc_domain_sethandle(xc, domid, handle) == 0;
}

bool TagOf(xc_interface* xc, uint32_t domid, OwnerTag* out) {
  xc_domaininfo_t info{};
  if (xc_domain_getinfolist(xc, domid, 1, &info) != 1 || info.domain != domid || (info.flags & XEN_DOMINF_dying)) return false;
  return OwnerTag::Read(info.handle, out);
}

int CollectTemplates(xc_interface* xc) {
  int destroyed = 0;
  for (bool again = true; again;) {
    again = false;
    std::vector<xc_domaininfo_t> all = AllDomains(xc);
    std::set<uint32_t> forked_from;  // templates some living domain is a fork of
    for (const auto& d : all) {
      OwnerTag tag;
      if (!(d.flags & XEN_DOMINF_dying) && OwnerTag::Read(d.handle, &tag) && tag.parent) forked_from.insert(tag.parent);
    }
    for (const auto& d : all) {
      OwnerTag tag;
      if ((d.flags & XEN_DOMINF_dying) || !OwnerTag::Read(d.handle, &tag) || !tag.is_template) continue;
      if (forked_from.count(d.domain)) continue;
      if (xc_domain_destroy(xc, d.domain) == 0) {
        destroyed++;
        again = true;  // its own template may have no fork left now
      }
    }
  }
  return destroyed;
}

bool OwnerTag::Alive() const { return kill(static_cast<pid_t>(pid), 0) == 0 && (StartTimeOf(pid) & kStartMask) == start; }

int SweepOrphans(xc_interface* xc) {
  int destroyed = 0;
  for (const auto& d : AllDomains(xc)) {
    OwnerTag tag;
    if (!OwnerTag::Read(d.handle, &tag) || tag.is_template || tag.Alive()) continue;
    if (xc_domain_destroy(xc, d.domain) == 0) destroyed++;
  }
  return destroyed + CollectTemplates(xc);
}

}  // namespace pvm::monitor::xen
