// The `xen` backend: one HVM|HAP domain with one vCPU per pVM, driven from dom0 over
// libxenctrl, libxendevicemodel, libxenforeignmemory and libxenevtchn (no libxl, no
// xenstore). Hypercalls arrive as ioreqs (ioreq_server.h); the domain is destroyed with
// this object, and by the watchdog or a later sweep when the monitor is killed.
// Fork (xen_fork.cc) shares the domain's memory where the hypervisor can (memshr_fork.h: the parent's
// domain becomes a template), else copies it (copy_fork.h). Channels and shared regions
// are granted dom0 pages mapped into the domain by machine frame (xen_region.h). Not yet
// (issue 19): the sharing of an image's read-only pages.
#pragma once

#include <signal.h>

#include <sys/types.h>

#include <map>
#include <memory>
#include <vector>

#include "monitor/backend.h"
#include "monitor/backends/xen/copy_fork.h"
#include "monitor/backends/xen/ioreq_server.h"
#include "monitor/backends/xen/memshr_fork.h"
#include "monitor/backends/xen/watchdog.h"
#include "monitor/backends/xen/xen_domain.h"
#include "monitor/backends/xen/xen_libs.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor {

class XenBackend final : public Backend {
 public:
  ~XenBackend() override;

  bool Prepare(Failure* why) override;
  bool Create(uint64_t ram_size, Failure* why) override;
  const GuestMemory& memory() const override { return memory_; }
  bool AllocateMemory(uint64_t size, GuestMemory* out, Failure* why) override { return out->Allocate(size, why); }
  bool ReplaceMemory(GuestMemory&& fresh, Failure* why) override;
  bool ShareFilePages(const GuestMemory&, uint64_t, int, uint64_t, uint64_t) override { return false; }
  bool MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) override;
  bool MapRegionOf(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, int fd, Failure* why) override;
  void UnmapRegion(uint32_t index) override;
  RegionPages region_pages() const override { return RegionPages::Granted; }

  bool SetEntryState(const EntryState& entry, Failure* why) override;
  bool SetEntryRegs(const EntryState& entry, Failure* why) override;
  bool WarmUp(Failure*) override { return true; }
  bool Run(VcpuExit* exit, Failure* why) override;
  bool SetKickSignals(const sigset_t& kick, Failure* why) override;
  bool CompleteHypercall(Failure* why) override;
  bool FinishExit(Failure* why) override;

  std::unique_ptr<SavedState> SaveState(Failure* why) override;
  bool RestoreState(const SavedState&, Failure* why) override;
  std::unique_ptr<SavedState> LoadState(const uint8_t*, size_t, Failure* why) override;
  bool BeforeFork(Failure* why) override;
  bool AfterForkInChild(Failure* why) override;
  void AfterForkInParent() override;
  int fork_path() const override { return fork_path_; }
  DirtyLog* dirty_log() override { return nullptr; }

  const char* name() const override { return "xen"; }
  uint32_t flags() const override { return 0; }
  bool exception_stack_works() const override { return true; }
  // A Linux program's `syscall` reaches LSTAR inside the HVM guest (CPL0, EFER.SCE), as on kvm.
  bool runs_linux_programs() const override { return true; }
  uint64_t exit_count() const override { return exits_; }

 private:
  bool DecodeRequest(const ioreq_t& req, VcpuExit* exit, Failure* why);
  bool DecodeShutdown(xen::DomainState state, VcpuExit* exit);
  // Guest RAM made [0, size) and memory_ windowed over it, its contents those of `from`
  // (zero if null).
  bool ResizeRam(uint64_t size, const GuestMemory* from, Failure* why);
  bool PauseOnce(Failure* why);
  // A region into domain_, its pages handed to the watchdog first.
  struct Region {
    uint64_t gpa = 0;
    std::vector<xen_pfn_t> mfns;
    int fd = -1;  // our copy of its pages (the core's may be closed first)
  };
  bool MapInto(uint32_t index, const Region& region, Failure* why);
  // Every region this pVM keeps into domain_ (a new domain of a fork has none of them).
  bool MapKeptRegions(Failure* why);
  // A new domain_ of this monitor's (owner tag, watchdog) with `ram_size` of empty RAM.
  bool CreateDomain(uint64_t ram_size, Failure* why);
  // A new ioreq server for domain_ on the transport's ports.
  bool StartIoreqServer(Failure* why);
  // A fork child's monitor: lets go of the parent's domain, server, RAM windows, watchdog
  // and Xen handles without ending them, then opens its own watchdog and handles.
  bool LeaveParentsDomain(Failure* why);
  // Whether domain_ and the Xen handles are this process's (not a fork child's copy of
  // its parent's, before AfterForkInChild made its own).
  bool OwnsDomain() const;
  // memshr_fork.h: the parent's side before fork(2) (domain_ becomes A, P a template,
  // memshr_child_ holds B) and the child's after it (B becomes this monitor's).
  bool ForkByMemshr(Failure* why);
  bool AdoptMemshrChild(uint64_t ram_size, Failure* why);
  // The parent: waits until the child monitor took B (or died: B destroyed).
  void SettleMemshrChild();

  xen::Watchdog watchdog_;  // forked before the handles are opened
  xen::XenHandles xen_;
  std::vector<int> xen_fds_;  // what xen_ opened (a forked monitor closes them)
  GuestMemory memory_;  // windowed over domain_: only what the core touches is mapped
  std::unique_ptr<xen::XenDomain> domain_;
  std::unique_ptr<xen::IoreqServer> ioreq_;
  EntryState entry_;
  bool paused_ = true;  // a new domain starts paused
  bool have_run_mask_ = false;
  sigset_t run_mask_{};
  uint64_t exits_ = 0;
  xen::CopyForkGate fork_gate_;  // the parent waits at it while its child copies RAM
  std::map<uint32_t, Region> regions_;  // by region index
  pid_t owner_pid_ = -1;  // the process that made domain_
  int memshr_ = -1;  // the hypervisor forks by memory sharing: -1 not asked yet, 0 no, 1 yes
  int fork_path_ = ctl::kForkCopy;  // how the last fork went
  uint16_t template_ = 0;  // the template domain_ is a memshr fork of (0: none)
  std::unique_ptr<xen::XenDomain> memshr_child_;  // B, between BeforeFork and the child taking it
  std::vector<uint8_t> rewind_blob_;  // SaveState's context when it rewound a port write
};

}  // namespace pvm::monitor
