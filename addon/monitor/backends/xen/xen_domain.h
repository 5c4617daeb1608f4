// One HVM|HAP domain with one vCPU, owned by one monitor: created paused, RAM populated
// by the hypervisor at GPA 0, destroyed with this object.
#pragma once

#include <cstdint>

#include "monitor/backend.h"
#include "monitor/backends/xen/owner_tag.h"
#include "monitor/backends/xen/xen_libs.h"
#include "monitor/failure.h"
#include "monitor/guest_memory.h"

namespace pvm::monitor::xen {

// How a domain stands, from xc_domain_getinfolist.
enum class DomainState { Running, PoweredOff, Crashed, OtherShutdown, Gone };

// Also the RamMapper of the backend's windowed GuestMemory: Map/Unmap foreign-map guest
// pages into the monitor only while the core needs them.
class XenDomain final : public RamMapper {
 public:
  explicit XenDomain(XenHandles* xen) : xen_(xen) {}
  ~XenDomain() { Destroy(); }
  XenDomain(const XenDomain&) = delete;
  XenDomain& operator=(const XenDomain&) = delete;

  // xc_domain_create (HVM|HAP, an emulated LAPIC only: no device model needed), one vCPU,
  // a triple fault read as a crash. Paused.
  bool Create(const OwnerTag& tag, Failure* why);
  // This object takes domain `id` (made elsewhere: a memshr fork made by the parent's
  // monitor), whose RAM is [0, ram_bytes).
  void Adopt(uint32_t id, uint64_t ram_bytes);
  // Makes this (new, paused, no RAM) domain a memshr fork of `parent` (paused): its RAM
  // is the parent's, each page shared or copied when first touched, its vCPU the parent's.
  // ENOSYS: the hypervisor has no memory sharing.
  bool ForkFrom(uint32_t parent, uint64_t ram_bytes, Failure* why);
  // This object lets go of the domain without destroying it (it became a template, or
  // another monitor's).
  void Forget() { exists_ = false; }
  // Makes guest RAM exactly [0, bytes): populates what is missing, gives back what is over.
  bool SetRam(uint64_t bytes, Failure* why);
  // RamMapper: a host mapping of guest pages [first_page, first_page + count)
  // (xenforeignmemory_map), nullptr (errno set) if any page cannot be mapped.
  uint8_t* Map(uint64_t first_page, uint64_t count) override;
  void Unmap(uint8_t* at, uint64_t count) override;
  // vCPU 0 at `entry` (long mode, the boot set-up's tables) with a reset FPU.
  bool SetEntryState(const EntryState& entry, Failure* why);
  // The vCPU's saved CPU record (rip, rsp, cr2, ...).
  bool ReadCpu(struct hvm_hw_cpu* cpu, Failure* why);
  bool Pause(Failure* why);
  bool Unpause(Failure* why);
  DomainState State();
  void Destroy();

  uint32_t id() const { return id_; }
  bool exists() const { return exists_; }

 private:
  XenHandles* xen_;
  uint32_t id_ = 0;
  bool exists_ = false;
  uint64_t ram_bytes_ = 0;
};

}  // namespace pvm::monitor::xen
