#include "monitor/backends/xen/probe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pvm::xen {

namespace {

constexpr const char* kPrivcmd = "/dev/xen/privcmd";
constexpr const char* kCapabilities = "/proc/xen/capabilities";

}  // namespace

BackendProbe Probe() {
  int fd = open(kPrivcmd, O_RDWR | O_CLOEXEC);
  if (fd < 0) return ProbeFailure(std::string(kPrivcmd) + " (not a Xen dom0, or not root there)", errno);
  close(fd);
  // A domU has privcmd too; only the control domain may create domains.
  fd = open(kCapabilities, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ProbeFailure(std::string(kCapabilities) + " (xenfs not mounted on /proc/xen?)", errno);
  char buf[128] = {};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0 || !strstr(buf, "control_d")) return ProbeFailure("not the Xen control domain (dom0): /proc/xen/capabilities lacks control_d", n < 0 ? errno : EPERM);
  BackendProbe p;
  p.ok = true;
  p.strings.emplace_back("privcmd", kPrivcmd);
  return p;
}

}  // namespace pvm::xen
