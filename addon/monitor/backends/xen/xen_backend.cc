#include "monitor/backends/xen/xen_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "monitor/backends/xen/owner_tag.h"
#include "monitor/backends/xen/xen_region.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

constexpr uint16_t Min3(uint16_t a, uint16_t b, uint16_t c) { return a < b ? (a < c ? a : c) : (b < c ? b : c); }
constexpr uint16_t Max3(uint16_t a, uint16_t b, uint16_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }
// The ports the ioreq server claims: doorbell, floor and fault port, each 4 bytes wide.
constexpr uint16_t kFirstPort = Min3(PVM_HC_PORT, PVM_HC_FLOOR_PORT, PVM_FAULT_PORT);
constexpr uint16_t kLastPort = Max3(PVM_HC_PORT, PVM_HC_FLOOR_PORT, PVM_FAULT_PORT) + 3;
// A crash or power-off sends no event: the domain's state is read when nothing came for
// this long (VIRQ_DOM_EXC is one per dom0 and xenstored may hold it).
constexpr long kStatePollNs = 20 * 1000 * 1000;

void Detail(VcpuExit* exit, const char* format, ...) __attribute__((format(printf, 2, 3)));
void Detail(VcpuExit* exit, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vsnprintf(exit->detail, sizeof exit->detail, format, ap);
  va_end(ap);
}

bool NotOnXen(Failure* why, const char* what) {
  return Fail(why, ctl::ErrorCode::Internal, ENOSYS, "%s is not supported on the xen backend yet", what);
}

}  // namespace

XenBackend::~XenBackend() {
  // Paused first: the vCPU makes no request while its server goes. Then the ioreq server
  // and every mapping of guest RAM before the domain: a domain whose pages are still
  // mapped in dom0 lingers as a zombie until they are unmapped.
  Failure ignored;
  SettleMemshrChild();  // B is the child's, or goes
  if (domain_ && domain_->exists()) PauseOnce(&ignored);
  ioreq_.reset();
  memory_.Adopt(nullptr, 0);
  if (domain_ && domain_->exists()) {
    uint32_t id = domain_->id();
    domain_->Destroy();
    watchdog_.Disarm(id);  // also lets the regions' pages go: nothing maps them now
  }
  // The template(s) this domain was a memshr fork of, if nothing else is one of them now.
  if (template_ && xen_.xc) xen::CollectTemplates(xen_.xc);
  watchdog_.Stop();
  for (auto& [index, region] : regions_) close(region.fd);
}

bool XenBackend::Prepare(Failure* why) {
  if (xen_.xc) return true;
  // The watchdog before any handle: the libraries' handles are not fork-safe.
  if (!watchdog_.Start(why) || !xen::OpenHandles(&xen_, &xen_fds_, why)) return false;
  // Domains of monitors that died with their watchdog (kill -9 of both).
  xen::SweepOrphans(xen_.xc);
  return true;
}

bool XenBackend::Create(uint64_t ram_size, Failure* why) {
  return Prepare(why) && CreateDomain(ram_size, why) && StartIoreqServer(why);
}

bool XenBackend::CreateDomain(uint64_t ram_size, Failure* why) {
  domain_ = std::make_unique<xen::XenDomain>(&xen_);
  bool made = domain_->Create(xen::OwnerTag::Self(), why);
  owner_pid_ = getpid();
  if (domain_->exists()) watchdog_.Arm(domain_->id());  // armed even half made: it goes with us
  return made && ResizeRam(ram_size, nullptr, why);
}

bool XenBackend::ResizeRam(uint64_t size, const GuestMemory* from, Failure* why) {
  // Nothing stays mapped while RAM grows or shrinks in place (populated pages come
  // cleared by the hypervisor). The monitor then maps pages only as the core touches
  // them (GuestMemory windows): a fork of the domain needs its RAM unmapped in dom0.
  memory_.Adopt(nullptr, 0);
  if (!domain_->SetRam(size, why)) return false;
  memory_.SetWindowed(size, domain_.get());
  if (!from) return true;
  // exec: all of RAM overwritten with `from`, mapped for the copy only.
  WholeRam whole;
  if (!whole.Open(memory_, why)) return false;
  uint64_t n = from->size() < size ? from->size() : size;
  memcpy(whole.span().data(), from->base(), n);
  memset(whole.span().data() + n, 0, size - n);
  return true;
}

bool XenBackend::ReplaceMemory(GuestMemory&& fresh, Failure* why) {
  // exec: `fresh` is host memory holding the next image; guest RAM becomes a copy of it.
  // The vCPU is paused (FinishExit), and gets its entry state next.
  if (!PauseOnce(why)) return false;
  return ResizeRam(fresh.size(), &fresh, why);
}

bool XenBackend::MapRegion(uint32_t, uint64_t, uint8_t*, uint64_t, Failure* why) {
  // Only pages the backend can find are mappable: MapRegionOf, with their fd.
  return NotOnXen(why, "a region without its fd");
}

bool XenBackend::OwnsDomain() const { return domain_ && domain_->exists() && owner_pid_ == getpid(); }

bool XenBackend::MapRegionOf(uint32_t index, uint64_t gpa, uint8_t*, uint64_t size, int fd, Failure* why) {
  if (!OwnsDomain()) return Fail(why, ctl::ErrorCode::Internal, EINVAL, "xen: no domain to map a region into");
  UnmapRegion(index);
  Region region;
  region.gpa = gpa;
  if (!xen::GrantedFrames(&xen_, fd, &region.mfns, why)) return false;
  if (region.mfns.size() * PVM_PAGE_SIZE < size) return Fail(why, ctl::ErrorCode::Internal, EINVAL, "xen: a region smaller than its mapping");
  region.mfns.resize(size / PVM_PAGE_SIZE);
  region.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (region.fd < 0) return FailErrno(why, ctl::ErrorCode::NoMemory, "xen: dup of a region fd");
  if (!MapInto(index, region, why)) {
    close(region.fd);
    return false;
  }
  regions_[index] = std::move(region);
  return true;
}

bool XenBackend::MapInto(uint32_t index, const Region& region, Failure* why) {
  uint32_t id = domain_->id();
  // The watchdog holds the pages before the domain can reach them.
  if (!watchdog_.Hold(id, index, region.fd, why)) return false;
  if (!xen::MapFrames(xen_.xc, id, region.gpa / PVM_PAGE_SIZE, region.mfns, why)) {
    watchdog_.Release(id, index);
    return false;
  }
  return true;
}

void XenBackend::UnmapRegion(uint32_t index) {
  auto it = regions_.find(index);
  if (it == regions_.end()) return;
  // A fork child before AfterForkInChild: the mapping is in the parent's domain, the
  // parent's to keep; only our records go.
  if (OwnsDomain()) {
    xen::UnmapFrames(xen_.xc, domain_->id(), it->second.gpa / PVM_PAGE_SIZE, it->second.mfns);
    watchdog_.Release(domain_->id(), index);
  }
  close(it->second.fd);
  regions_.erase(it);
}

bool XenBackend::MapKeptRegions(Failure* why) {
  for (const auto& [index, region] : regions_) {
    if (!MapInto(index, region, why)) return false;
  }
  return true;
}

bool XenBackend::StartIoreqServer(Failure* why) {
  ioreq_ = std::make_unique<xen::IoreqServer>(&xen_, domain_->id());
  return ioreq_->Start(kFirstPort, kLastPort, why);
}

bool XenBackend::LeaveParentsDomain(Failure* why) {
  // Everything of the parent's is the parent's to end: its domain, ioreq server, RAM
  // mapping (privcmd mappings are not even copied by fork(2)), watchdog and handles.
  memory_.Disown();        // first: its windows are the domain's mappings
  (void)ioreq_.release();  // NOLINT: not destroyed (it is the parent's server)
  domain_->Forget();       // not destroyed either
  domain_.reset();
  watchdog_.Stop();        // closes our copy of the parent's socket only
  xen::ForgetInheritedHandles(&xen_, &xen_fds_);
  paused_ = true;
  exits_ = 0;
  return watchdog_.Start(why) && xen::OpenHandles(&xen_, &xen_fds_, why);
}

bool XenBackend::PauseOnce(Failure* why) {
  if (paused_) return true;
  if (!domain_->Pause(why)) return false;
  paused_ = true;
  return true;
}

bool XenBackend::SetEntryState(const EntryState& entry, Failure* why) {
  if (!PauseOnce(why)) return false;
  entry_ = entry;
  return domain_->SetEntryState(entry, why);
}

bool XenBackend::SetEntryRegs(const EntryState& entry, Failure* why) {
  // One HVM context load either way: the control state is the one set last.
  EntryState e = entry_;
  e.rip = entry.rip;
  e.rsp = entry.rsp;
  e.rdi = entry.rdi;
  e.rsi = entry.rsi;
  e.rdx = entry.rdx;
  e.rflags = entry.rflags;
  return SetEntryState(e, why);
}

bool XenBackend::SetKickSignals(const sigset_t& kick, Failure* why) {
  // Run waits in ppoll with the monitor's mask minus the kick signals.
  sigset_t mask;
  if (!MaskLettingIn(kick, &mask)) return FailErrno(why, ctl::ErrorCode::Internal, "sigprocmask");
  run_mask_ = mask;
  have_run_mask_ = true;
  return true;
}

bool XenBackend::Run(VcpuExit* exit, Failure* why) {
  exits_++;
  if (paused_) {
    if (!domain_->Unpause(why)) return false;
    paused_ = false;
  }
  for (;;) {
    if (ioreq_t* req = ioreq_->Take()) {
      // Xen also broadcasts requests that are no access: INVALIDATE after guest RAM
      // shrank (exec) for device models' map caches, TIMEOFFSET. Answered, ignored.
      if (req->type != IOREQ_TYPE_PIO && req->type != IOREQ_TYPE_COPY) {
        ioreq_->Complete();
        continue;
      }
      return DecodeRequest(*req, exit, why);
    }
    pollfd pfd{ioreq_->fd(), POLLIN, 0};
    timespec timeout{0, kStatePollNs};
    // The guest runs on its own while the monitor waits here; a kick signal (the host
    // wrote, TERM, a pVM signal) ends the wait, never the guest's run.
    int n = ppoll(&pfd, 1, &timeout, have_run_mask_ ? &run_mask_ : nullptr);
    if (n < 0 && errno == EINTR) {
      exit->kind = VcpuExit::Kind::Interrupted;
      return true;
    }
    if (n < 0) return FailErrno(why, ctl::ErrorCode::Internal, "xen: waiting for the event channel");
    if (n > 0) {
      ioreq_->TakeEvents();
      continue;
    }
    xen::DomainState state = domain_->State();
    if (state != xen::DomainState::Running) return DecodeShutdown(state, exit);
  }
}

bool XenBackend::DecodeRequest(const ioreq_t& req, VcpuExit* exit, Failure* why) {
  bool pio = req.type == IOREQ_TYPE_PIO && !req.data_is_ptr;
  bool write = req.dir == IOREQ_WRITE;
  uint16_t port = static_cast<uint16_t>(req.addr);
  // Xen moved rip past the `out` when it handed the write over.
  if (pio && write && req.size == 4 && (port == PVM_HC_PORT || port == PVM_HC_FLOOR_PORT)) {
    exit->kind = VcpuExit::Kind::Hypercall;
    exit->port = port;
    exit->value = static_cast<uint32_t>(req.data);
    // rip only for the bad-block fault: reading it costs a hypercall per call.
    if (port == PVM_HC_PORT && exit->value != PVM_HC_BLOCK_GPA) {
      hvm_hw_cpu cpu{};
      Failure ignored;
      if (domain_->ReadCpu(&cpu, &ignored)) exit->rip = cpu.rip;
    }
    return true;
  }
  hvm_hw_cpu cpu{};
  if (!domain_->ReadCpu(&cpu, why)) return false;
  exit->rip = cpu.rip;
  if (pio && write && port == PVM_FAULT_PORT) {
    // An exception stub: the frame is at rsp in guest RAM; cr2 only the vCPU has.
    exit->kind = VcpuExit::Kind::FaultReport;
    exit->rsp = cpu.rsp;
    exit->cr2 = cpu.cr2;
    return true;
  }
  if (req.type == IOREQ_TYPE_COPY) {
    exit->kind = VcpuExit::Kind::Mmio;
    exit->gpa = req.addr;
    exit->size = req.size;
    exit->is_write = write;
    return true;
  }
  exit->kind = VcpuExit::Kind::Io;
  exit->port = port;
  exit->size = req.size;
  exit->is_write = write;
  return true;
}

bool XenBackend::DecodeShutdown(xen::DomainState state, VcpuExit* exit) {
  hvm_hw_cpu cpu{};
  Failure ignored;
  // A powered-off vCPU is down: Xen saves no record for it, so no rip then.
  if (state != xen::DomainState::Gone && domain_->ReadCpu(&cpu, &ignored)) {
    exit->rip = cpu.rip;
    exit->cr2 = cpu.cr2;
  }
  switch (state) {
    case xen::DomainState::PoweredOff:  // hlt with interrupts off: the vCPU went down
      exit->kind = VcpuExit::Kind::Halt;
      return true;
    case xen::DomainState::Crashed:  // a triple fault: Xen tells no vector
      exit->kind = VcpuExit::Kind::TripleFault;
      return true;
    case xen::DomainState::OtherShutdown:
      exit->kind = VcpuExit::Kind::Internal;
      Detail(exit, "the xen domain %u shut down (reboot or suspend)", domain_->id());
      return true;
    default:
      exit->kind = VcpuExit::Kind::Internal;
      Detail(exit, "the xen domain %u is gone (destroyed from outside the monitor?)", domain_->id());
      return true;
  }
}

bool XenBackend::CompleteHypercall(Failure*) {
  ioreq_->Complete();
  return true;
}

bool XenBackend::FinishExit(Failure* why) {
  // Paused first, so that answering the request in process does not let the old vCPU
  // state run on; a port write needs nothing more (rip is past it already). The guest
  // runs on while the monitor serves the host (a host exec comes between exits): a
  // request it made meanwhile is answered too, else the next Run would take it as the
  // new image's first hypercall (its block still zero: "unknown hypercall 0").
  if (!PauseOnce(why)) return false;
  ioreq_->Take();  // nothing if one is in process already, or none is pending
  ioreq_->Complete();
  return true;
}

std::unique_ptr<SavedState> XenBackend::SaveState(Failure* why) {
  // A host fork finds the guest running on its own: paused here, and until the clone is
  // made (AfterForkInParent). A guest fork finds it waiting for its FORK's answer.
  if (!PauseOnce(why)) return nullptr;
  bool rewind = ioreq_->waiting();
  auto state = xen::SaveDomainState(xen_.xc, domain_->id(), rewind, why);
  // A memshr fork gives A the template's vCPU as it was: it must make that request again too.
  rewind_blob_.clear();
  if (state && rewind) rewind_blob_ = state->blob();
  return state;
}

bool XenBackend::RestoreState(const SavedState& state, Failure* why) {
  if (!PauseOnce(why)) return false;
  return xen::LoadDomainState(xen_.xc, domain_->id(), static_cast<const xen::XenSavedState&>(state), why);
}

std::unique_ptr<SavedState> XenBackend::LoadState(const uint8_t* bytes, size_t size, Failure*) {
  return std::make_unique<xen::XenSavedState>(std::vector<uint8_t>(bytes, bytes + size));
}

}  // namespace pvm::monitor
