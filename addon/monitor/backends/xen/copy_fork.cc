#include "monitor/backends/xen/copy_fork.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "monitor/backends/xen/hvm_context.h"

namespace pvm::monitor::xen {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kChunk = 8 << 20;  // 2048 pages of each side mapped at a time
// Every port write of the guest (runtime's doorbell and floor, boot set-up's fault
// stubs) is `outl %eax, $imm8`: 0xe7 ib.
constexpr uint64_t kPortWriteLength = 2;

}  // namespace

std::unique_ptr<XenSavedState> SaveDomainState(xc_interface* xc, uint32_t domid, bool rewind_port_write, Failure* why) {
  std::vector<uint8_t> ctx;
  if (!GetHvmContext(xc, domid, &ctx, why)) return nullptr;
  if (rewind_port_write) {
    const uint16_t kCpu = HVM_SAVE_CODE(CPU), kEnd = HVM_SAVE_CODE(END);
    size_t off = 0;
    while (off + sizeof(hvm_save_descriptor) <= ctx.size()) {
      hvm_save_descriptor d;
      memcpy(&d, ctx.data() + off, sizeof d);
      size_t body = off + sizeof d;
      if (body + d.length > ctx.size() || d.typecode == kEnd) break;
      if (d.typecode == kCpu && d.instance == 0 && d.length >= sizeof(hvm_hw_cpu)) {
        hvm_hw_cpu cpu;
        memcpy(&cpu, ctx.data() + body, sizeof cpu);
        cpu.rip -= kPortWriteLength;
        memcpy(ctx.data() + body, &cpu, sizeof cpu);
        break;
      }
      off = body + d.length;
    }
  }
  return std::make_unique<XenSavedState>(std::move(ctx));
}

bool LoadDomainState(xc_interface* xc, uint32_t domid, const XenSavedState& state, Failure* why) {
  std::vector<uint8_t> blob = state.blob();  // setcontext takes a mutable buffer
  if (xc_domain_hvm_setcontext(xc, domid, blob.data(), blob.size()) < 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: xc_domain_hvm_setcontext (fork)");
  }
  return true;
}

bool CopyRam(XenHandles* xen, uint32_t from, uint32_t to, uint64_t bytes, Failure* why) {
  std::vector<xen_pfn_t> pfns(kChunk / kPage);
  std::vector<int> errs(pfns.size());
  for (uint64_t gpa = 0; gpa < bytes; gpa += kChunk) {
    size_t n = (bytes - gpa < kChunk ? bytes - gpa : kChunk) / kPage;
    for (size_t i = 0; i < n; i++) pfns[i] = gpa / kPage + i;
    void* src = xenforeignmemory_map(xen->fmem, from, PROT_READ, n, pfns.data(), errs.data());
    if (!src) return FailErrno(why, ctl::ErrorCode::NoMemory, "xen: fork: mapping the parent's RAM");
    void* dst = xenforeignmemory_map(xen->fmem, to, PROT_READ | PROT_WRITE, n, pfns.data(), errs.data());
    if (!dst) {
      int e = errno;
      xenforeignmemory_unmap(xen->fmem, src, n);
      errno = e;
      return FailErrno(why, ctl::ErrorCode::NoMemory, "xen: fork: mapping the child's RAM");
    }
    memcpy(dst, src, n * kPage);
    xenforeignmemory_unmap(xen->fmem, dst, n);
    xenforeignmemory_unmap(xen->fmem, src, n);
  }
  return true;
}

namespace {

// Fds open now, up to a bound well past what a monitor holds (fcntl: no file opened).
std::vector<bool> OpenFdMap() {
  constexpr int kMaxFd = 1024;
  std::vector<bool> open(kMaxFd);
  for (int fd = 0; fd < kMaxFd; fd++) open[fd] = fcntl(fd, F_GETFD) >= 0;
  return open;
}

}  // namespace

bool OpenHandles(XenHandles* xen, std::vector<int>* fds, Failure* why) {
  std::vector<bool> before = OpenFdMap();
  bool ok = xen->Open(why);
  std::vector<bool> after = OpenFdMap();
  fds->clear();
  for (size_t fd = 0; fd < after.size(); fd++) {
    if (after[fd] && !before[fd]) fds->push_back(static_cast<int>(fd));
  }
  return ok;
}

void ForgetInheritedHandles(XenHandles* xen, std::vector<int>* fds) {
  // Closing them through the libraries would munmap buffers that are not in this process
  // (privcmd mappings are not copied by fork(2)) and may be something else's by now.
  for (int fd : *fds) close(fd);
  fds->clear();
  // The handle structs themselves are left (a few hundred bytes): freeing them is the
  // library's close, which is what must not run here.
  xen->xc = nullptr;
  xen->dm = nullptr;
  xen->fmem = nullptr;
  xen->evtchn = nullptr;
  xen->call = nullptr;
}

bool CopyForkGate::Open(Failure* why) {
  Close();
  // A socket pair (the core's confinement allows socketpair): EOF when the child dies.
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_) != 0) {
    return FailErrno(why, ctl::ErrorCode::Internal, "xen: fork: socketpair");
  }
  return true;
}

void CopyForkGate::WaitInParent() {
  if (fds_[0] < 0) return;
  close(fds_[1]);
  fds_[1] = -1;
  char byte;
  while (read(fds_[0], &byte, 1) < 0 && errno == EINTR) {
  }
  Close();
}

void CopyForkGate::OpenInChild() {
  if (fds_[1] >= 0) (void)!write(fds_[1], "c", 1);
  Close();
}

void CopyForkGate::Close() {
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

}  // namespace pvm::monitor::xen
