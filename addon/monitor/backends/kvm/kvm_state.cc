#include "monitor/backends/kvm/kvm_state.h"

#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "monitor/backends/kvm/kvm_backend.h"

namespace pvm::monitor {

namespace {

// Async page-fault MSRs (MSR_KVM_ASYNC_PF_EN/INT/ACK): they read back, but cannot be
// written without an in-kernel LAPIC, which a pVM does not have.
bool Unrestorable(uint32_t index) { return index == 0x4b564d02 || index == 0x4b564d06 || index == 0x4b564d07; }

bool MsrIndexList(const Kvm& kvm, std::vector<uint32_t>* out, Failure* why) {
  kvm_msr_list probe{};  // nmsrs = 0: KVM fails with E2BIG and says how many there are
  if (ioctl(kvm.fd(), KVM_GET_MSR_INDEX_LIST, &probe) != 0 && errno != E2BIG) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_MSR_INDEX_LIST");
  }
  if (probe.nmsrs == 0) return true;
  std::vector<uint32_t> buf(1 + probe.nmsrs);
  auto* list = reinterpret_cast<kvm_msr_list*>(buf.data());
  list->nmsrs = probe.nmsrs;
  if (ioctl(kvm.fd(), KVM_GET_MSR_INDEX_LIST, list) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_MSR_INDEX_LIST");
  }
  out->assign(list->indices, list->indices + list->nmsrs);
  return true;
}

// KVM_GET_MSRS stops at the first MSR it cannot read and says how many it did; skip
// that one and go on, so the result is every MSR that reads back.
bool ReadMsrs(const KvmVcpu& vcpu, const std::vector<uint32_t>& indices, std::vector<kvm_msr_entry>* out,
              Failure* why) {
  size_t n = indices.size();
  std::vector<uint64_t> buf((sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry)) / sizeof(uint64_t) + 1);
  auto* msrs = reinterpret_cast<kvm_msrs*>(buf.data());
  size_t done = 0;
  while (done < n) {
    msrs->nmsrs = static_cast<uint32_t>(n - done);
    for (size_t i = done; i < n; i++) msrs->entries[i - done] = kvm_msr_entry{indices[i], 0, 0};
    int r = ioctl(vcpu.fd(), KVM_GET_MSRS, msrs);
    if (r < 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_MSRS");
    for (int i = 0; i < r; i++) out->push_back(msrs->entries[i]);
    done += static_cast<size_t>(r) + 1;  // r read, then one it could not
  }
  return true;
}

}  // namespace

bool SaveKvmState(const Kvm& kvm, const KvmVcpu& vcpu, bool kvm_pvm, KvmSavedState* s, Failure* why) {
  int fd = vcpu.fd();
  if (ioctl(fd, KVM_GET_REGS, &s->regs) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_REGS");
  if (!vcpu.GetSregs(&s->sregs, why)) return false;

  // Capabilities do not change: asked once.
  static const int xsave2 = kvm.Capability(KVM_CAP_XSAVE2);  // bytes, with dynamic features
  static const int xsave1 = kvm.Capability(KVM_CAP_XSAVE);
  static const int xcrs = kvm.Capability(KVM_CAP_XCRS);
  static const int debugregs = kvm.Capability(KVM_CAP_DEBUGREGS);
  int xsave_size = xsave2;
  if (xsave_size == 0 && xsave1) xsave_size = sizeof(kvm_xsave);
  if (xsave_size > 0) {
    s->xsave.assign((std::max<size_t>(xsave_size, sizeof(kvm_xsave)) + 3) / 4, 0);
    unsigned long op = xsave2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
    if (ioctl(fd, op, s->xsave.data()) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_XSAVE");
  } else if (ioctl(fd, KVM_GET_FPU, &s->fpu) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_FPU");
  }
  if (xcrs) {
    if (ioctl(fd, KVM_GET_XCRS, &s->xcrs) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_XCRS");
    s->have_xcrs = true;
  }
  if (!vcpu.GetEvents(&s->events, why)) return false;
  if (debugregs) {
    if (ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs) != 0) {
      return FailErrno(why, ctl::ErrorCode::Internal, "KVM_GET_DEBUGREGS");
    }
    s->have_debugregs = true;
  }

  // Which MSRs read back is the same every time: found once (one ioctl per unreadable
  // MSR), then read in one KVM_GET_MSRS (a fork's pause is counted in microseconds).
  static std::vector<uint32_t> readable;
  s->msrs.clear();
  if (!readable.empty()) {
    if (!ReadMsrs(vcpu, readable, &s->msrs, why)) return false;
    if (s->msrs.size() == readable.size()) return true;
    s->msrs.clear();  // something changed: look again
  }
  std::vector<uint32_t> indices;
  if (!MsrIndexList(kvm, &indices, why)) return false;
  std::erase_if(indices, Unrestorable);
  if (kvm_pvm && std::find(indices.begin(), indices.end(), kKvmPvmVifMsr) == indices.end()) {
    indices.push_back(kKvmPvmVifMsr);
  }
  if (!ReadMsrs(vcpu, indices, &s->msrs, why)) return false;
  readable.clear();
  for (const auto& e : s->msrs) readable.push_back(e.index);
  return true;
}

bool RestoreKvmState(KvmVcpu* vcpu, const KvmSavedState& s, Failure* why) {
  int fd = vcpu->fd();
  // The order QEMU uses: registers, FPU/XSAVE, XCRs, sregs, MSRs, events, debug regs.
  if (!vcpu->SetRegs(s.regs, why)) return false;
  if (!s.xsave.empty()) {
    if (ioctl(fd, KVM_SET_XSAVE, s.xsave.data()) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_XSAVE");
  } else if (ioctl(fd, KVM_SET_FPU, &s.fpu) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_FPU");
  }
  if (s.have_xcrs && ioctl(fd, KVM_SET_XCRS, &s.xcrs) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_XCRS");
  }
  if (!vcpu->SetSregs(s.sregs, why)) return false;

  size_t n = s.msrs.size();
  std::vector<uint64_t> buf((sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry)) / sizeof(uint64_t) + 1);
  auto* msrs = reinterpret_cast<kvm_msrs*>(buf.data());
  msrs->nmsrs = static_cast<uint32_t>(n);
  std::copy(s.msrs.begin(), s.msrs.end(), msrs->entries);
  int r = ioctl(fd, KVM_SET_MSRS, msrs);
  if (r < 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_MSRS");
  if (static_cast<size_t>(r) != n) {
    return Fail(why, ctl::ErrorCode::Internal, 0, "KVM_SET_MSRS: MSR 0x%x could not be restored", s.msrs[r].index);
  }

  if (ioctl(fd, KVM_SET_VCPU_EVENTS, &s.events) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_VCPU_EVENTS");
  }
  if (s.have_debugregs && ioctl(fd, KVM_SET_DEBUGREGS, &s.debugregs) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_DEBUGREGS");
  }
  return true;
}

bool RewindKvmState(KvmVcpu* vcpu, const KvmSavedState& s, Failure* why) {
  int fd = vcpu->fd();
  // Every vCPU ioctl costs ~5 us here: the general registers go through kvm_run's sync
  // area when KVM has one (taken at the next KVM_RUN; the exit was finished before).
  if (vcpu->sync_regs()) {
    vcpu->run()->s.regs.regs = s.regs;
    vcpu->run()->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
  } else if (!vcpu->SetRegs(s.regs, why)) {
    return false;
  }
  if (!s.xsave.empty()) {
    if (ioctl(fd, KVM_SET_XSAVE, s.xsave.data()) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_XSAVE");
  } else if (ioctl(fd, KVM_SET_FPU, &s.fpu) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_FPU");
  }
  kvm_sregs sregs{};
  if (!vcpu->GetSregs(&sregs, why)) return false;
  // The interrupt bitmap and the APIC base are KVM's bookkeeping, cr2 only the last
  // fault's address; the rest is the guest's.
  sregs.apic_base = s.sregs.apic_base;
  sregs.cr2 = s.sregs.cr2;
  std::memcpy(sregs.interrupt_bitmap, s.sregs.interrupt_bitmap, sizeof sregs.interrupt_bitmap);
  if (std::memcmp(&sregs, &s.sregs, sizeof sregs) != 0 && !vcpu->SetSregs(s.sregs, why)) return false;
  // MSRs: only those that changed (TSC always does: it is left to run on).
  std::vector<uint32_t> indices;
  for (const auto& e : s.msrs) indices.push_back(e.index);
  std::vector<kvm_msr_entry> now;
  if (!ReadMsrs(*vcpu, indices, &now, why)) return false;
  std::vector<kvm_msr_entry> changed;
  for (size_t i = 0; i < s.msrs.size(); i++) {
    if (s.msrs[i].index == 0x10) continue;  // IA32_TSC
    if (i >= now.size() || now[i].index != s.msrs[i].index || now[i].data != s.msrs[i].data) changed.push_back(s.msrs[i]);
  }
  if (!changed.empty()) {
    size_t n = changed.size();
    std::vector<uint64_t> buf((sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry)) / sizeof(uint64_t) + 1);
    auto* msrs = reinterpret_cast<kvm_msrs*>(buf.data());
    msrs->nmsrs = static_cast<uint32_t>(n);
    std::copy(changed.begin(), changed.end(), msrs->entries);
    int r = ioctl(fd, KVM_SET_MSRS, msrs);
    if (r < 0 || static_cast<size_t>(r) != n) return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_MSRS");
  }
  if (ioctl(fd, KVM_SET_VCPU_EVENTS, &s.events) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "KVM_SET_VCPU_EVENTS");
  }
  return true;
}

// Layout: the fixed structs one after the other, then each vector as a u32 count and
// its elements. Both ends are this same binary, so no versioning is needed.
namespace {

template <typename T>
void Put(std::vector<uint8_t>* out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out->insert(out->end(), p, p + sizeof v);
}

template <typename T>
void PutVector(std::vector<uint8_t>* out, const std::vector<T>& v) {
  Put(out, static_cast<uint32_t>(v.size()));
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  out->insert(out->end(), p, p + v.size() * sizeof(T));
}

struct Reader {
  const uint8_t* at;
  size_t left;
  template <typename T>
  bool Get(T* v) {
    if (left < sizeof *v) return false;
    std::memcpy(v, at, sizeof *v);
    at += sizeof *v;
    left -= sizeof *v;
    return true;
  }
  template <typename T>
  bool GetVector(std::vector<T>* v) {
    uint32_t n;
    if (!Get(&n) || left / sizeof(T) < n) return false;
    v->resize(n);
    std::memcpy(v->data(), at, n * sizeof(T));
    at += n * sizeof(T);
    left -= n * sizeof(T);
    return true;
  }
};

}  // namespace

void KvmSavedState::Serialize(std::vector<uint8_t>* out) const {
  out->clear();
  Put(out, regs);
  Put(out, sregs);
  Put(out, fpu);
  Put(out, static_cast<uint8_t>(have_xcrs));
  Put(out, xcrs);
  Put(out, events);
  Put(out, static_cast<uint8_t>(have_debugregs));
  Put(out, debugregs);
  PutVector(out, xsave);
  PutVector(out, msrs);
}

bool KvmSavedState::Deserialize(const uint8_t* bytes, size_t size) {
  Reader r{bytes, size};
  uint8_t xcrs_flag = 0, debug_flag = 0;
  bool ok = r.Get(&regs) && r.Get(&sregs) && r.Get(&fpu) && r.Get(&xcrs_flag) && r.Get(&xcrs) && r.Get(&events) &&
            r.Get(&debug_flag) && r.Get(&debugregs) && r.GetVector(&xsave) && r.GetVector(&msrs) && r.left == 0;
  have_xcrs = xcrs_flag != 0;
  have_debugregs = debug_flag != 0;
  return ok;
}

}  // namespace pvm::monitor
