// What destroys a monitor's domain when the monitor is SIGKILLed (its host Node process
// died, or `kill -9`): closing privcmd or the ioreq server's fds destroys nothing. A
// watchdog process, forked before any Xen handle is opened (the libraries' handles are
// not fork-safe), in its own session (a kill of the monitor's process group misses it),
// reads a socket: the monitor arms it with each domain it creates and disarms it after its
// own destroy. At EOF (the monitor ended, however) it destroys what is still armed and
// still carries the monitor's owner tag (domain ids are reused). When the watchdog is
// killed too, the next monitor's sweep (owner_tag.h) destroys the orphan.
// It also holds the pages of every channel or region mapped into a domain (a copy of
// its fd, xen_region.h): a direct-memory mapping takes no page reference, so the pages
// must outlive it. The copy is closed when the monitor unmaps the region, after a
// disarm (the monitor destroyed the domain), or after the watchdog destroyed it.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "monitor/failure.h"

namespace pvm::monitor::xen {

class Watchdog {
 public:
  ~Watchdog() { Stop(); }
  bool Start(Failure* why);
  void Arm(uint32_t domid);
  // Closes what Hold gave it for domid too.
  void Disarm(uint32_t domid);
  // Keeps a copy of fd (region `index` of domid) until Release or the domain is gone.
  bool Hold(uint32_t domid, uint32_t index, int fd, Failure* why);
  void Release(uint32_t domid, uint32_t index);
  // Closes the socket: the watchdog ends (after destroying what is still armed). The
  // monitor's Finish waits for its children, so this must come before it.
  void Stop();

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
};

}  // namespace pvm::monitor::xen
