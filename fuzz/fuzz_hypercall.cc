// Fuzzes the monitor's hypercall handlers (monitor/hypercalls.h HandleHypercall, the
// family's KILL/WAITPID/SIGNALS, and EXEC through GuestExec/ExecPvm) without KVM: a
// Monitor as boot.cc builds it, over a fake backend (fuzz/fake_backend.h) with real
// guest RAM, a real channel table, registry and console, and its control socket on one
// end of a socketpair whose other end plays the host.
//
// What the guest could do, the input does: it fills guest RAM and then makes a series of
// hypercalls with arguments of its choice, as a guest program would. Never done here:
// FORK (it forks the process), blocking (WAIT's and WAITPID's timeouts are made 0),
// signalling a process (every registry entry has pid 0, so KILL stops at ESRCH after
// the family checks).
//
// Input: [setup] [family] [data length: u16 LE] [data: copied to guest RAM at
//        PVM_IMAGE_BASE] [op]...
//   setup bits 0-1: channels attached before the guest starts (0..3): slots 0 and 1 are
//                   the two ends of one channel, slot 2 a channel to the host
//         bit 2:    slot 0's peer has crashed (its pidfd is readable); bit 3: slot 1 has
//                   a live peer pidfd
//         bit 4:    warm spares on (the monitor records its own writes to guest RAM)
//         bit 5:    8 MiB of guest RAM instead of 4; bit 6: a spare is due (WAIT comes back)
//   family: see AddFamily
//   op = [kind:2 | bits:6]
//     kind 0, 1: a hypercall: nr = op & 15; bit 4: a pVM signal arrives first (byte:
//                its number); bit 5: the guest moves its console head first (arg).
//                Then [arg spec byte: 2 bits per argument] [args]. EXEC then also reads
//                [answer byte] (see Exec).
//     kind 2:    the guest writes guest RAM: [arg: gpa] [n: byte] [n bytes]
//     kind 3:    op & 7 < 6: a fault exit of that kind described (monitor/fault.h);
//                6, 7: the host attaches a shared-memory region / a channel, with fds
//                of its choosing (see HostAttach)
//   arg by its 2-bit spec: 0 one byte, 1 PVM_IMAGE_BASE + u16, 2 raw u64, 3 a byte
//   indexing a table of edge values.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <elf.h>
#include <memory>
#include <string>
#include <vector>

#include "common/control_io.h"
#include "common/registry.h"
#include "fuzz/fake_backend.h"
#include "fuzz/fuzz_common.h"
#include "monitor/boot_setup.h"
#include "monitor/channels.h"
#include "monitor/console.h"
#include "monitor/exec.h"
#include "monitor/fault.h"
#include "monitor/hypercalls.h"
#include "monitor/transport.h"
#include "monitor/monitor.h"
#include "monitor/signals.h"
#include "pvm/abi.h"

namespace {
uint64_t g_arrived = 0;  // pVM signals "arrived" for the next CollectSignals
}

// signals.cc's, which the harness does not link: the signals its handlers collected.
uint64_t pvm::monitor::TakeArrivedSignals() {
  uint64_t v = g_arrived;
  g_arrived = 0;
  return v;
}
// Nothing tells the harness's monitor to end.
bool pvm::monitor::TerminateRequested() { return false; }
// An uncaught signal that would end the pVM (family.cc): the harness goes on.
void pvm::monitor::RequestTerminate(int) {}

namespace pvm::fuzz {
namespace {

using monitor::ChannelEnd;
using monitor::ChannelTable;
using monitor::Failure;
using monitor::Monitor;
using monitor::VcpuExit;

constexpr uint64_t kDataGpa = PVM_IMAGE_BASE;
constexpr size_t kMaxData = 16 * 1024;
constexpr int kMaxOps = 256;
constexpr uint64_t kSelf = 2;

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// A small valid image for EXEC: one read-only executable segment of two pages at the
// image base (so the monitor maps its pages from the file, too), entry after the headers.
std::vector<uint8_t> TinyElf() {
  std::vector<uint8_t> image(2 * PVM_PAGE_SIZE, 0);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = PVM_IMAGE_BASE + 0x100;
  eh.e_phoff = sizeof eh;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_flags = PF_R | PF_X;
  ph.p_offset = 0;
  ph.p_vaddr = ph.p_paddr = PVM_IMAGE_BASE;
  ph.p_filesz = ph.p_memsz = image.size();
  ph.p_align = PVM_PAGE_SIZE;
  std::memcpy(image.data(), &eh, sizeof eh);
  std::memcpy(image.data() + sizeof eh, &ph, sizeof ph);
  image[0x100] = 0xf4;  // hlt
  return image;
}

int MemfdWith(const char* name, std::span<const uint8_t> bytes) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) abort();
  if (!bytes.empty() && write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) abort();
  return fd;
}

// Made once: the image EXEC may get, and the pidfds of a live (this) and a dead process.
struct Fixture {
  int tiny_elf = -1;
  uint64_t tiny_entry = 0;
  int live_pidfd = -1;
  int dead_pidfd = -1;
};

Fixture& TheFixture() {
  static Fixture f = [] {
    Fixture x;
    std::vector<uint8_t> elf = TinyElf();
    x.tiny_elf = MemfdWith("fuzz-tiny-elf", elf);
    x.tiny_entry = PVM_IMAGE_BASE + 0x100;
    x.live_pidfd = PidfdOpen(getpid());
    pid_t child = fork();
    if (child == 0) _exit(0);
    if (child < 0) abort();
    x.dead_pidfd = PidfdOpen(child);  // a zombie still has a pid
    waitpid(child, nullptr, 0);
    if (x.tiny_elf < 0 || x.live_pidfd < 0 || x.dead_pidfd < 0) abort();
    return x;
  }();
  return f;
}

// Reads whatever is on sock and closes the fds that came with it. Looks first: every
// ctl::receive zero-fills a 64 KiB buffer, which, after every op, was a fifth of the run.
void Drain(int sock) {
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return;
    ctl::Message msg;
    int rc = ctl::receive(sock, &msg, /*nonblocking=*/true);
    for (int fd : msg.fds) close(fd);
    if (rc <= 0 && rc != -EBADMSG) return;
  }
}

class Harness {
 public:
  explicit Harness(Input* in) : in_(in) {}
  ~Harness();
  void Run();

 private:
  bool SetUp();
  void AddFamily(uint8_t family);
  void AttachChannels(uint8_t setup);
  bool Hypercall(uint8_t op);
  bool Exec(const VcpuExit& x);
  void Poke();
  void Fault(uint8_t op);
  void HostAttach(uint8_t op);
  void CheckAfterOp(const char* what);

  Input* in_;
  Monitor m_;
  FakeBackend* backend_ = nullptr;
  int host_ = -1;
  sigset_t wait_mask_{};
  size_t data_len_ = 0;
};

Harness::~Harness() {
  for (const auto& c : m_.family.children) close(c.pidfd);
  if (m_.family.child_exit_bell >= 0) close(m_.family.child_exit_bell);
  m_.host.requests.Clear();
  m_.console.reset();
  m_.channels.reset();
  m_.backend.reset();
  if (host_ >= 0) close(host_);
  if (m_.control.fd() >= 0) close(m_.control.fd());
}

bool Harness::SetUp() {
  uint8_t setup = in_->Byte();
  uint8_t family = in_->Byte();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) abort();
  host_ = sv[0];
  m_.control = monitor::ControlChannel(sv[1]);
  sigprocmask(SIG_SETMASK, nullptr, &wait_mask_);
  m_.wait_mask = wait_mask_;

  auto backend = std::make_unique<FakeBackend>();
  backend_ = backend.get();
  m_.backend = std::move(backend);
  m_.ram_size = (setup & 0x20) ? 8ull << 20 : PVM_MIN_RAM;
  Failure why;
  if (!m_.backend->Create(m_.ram_size, &why)) abort();
  // Boot as boot.cc does, over a stand-in image (the data below goes where it would be).
  monitor::LoadedImage image;
  image.entry = PVM_IMAGE_BASE;
  image.end = PVM_IMAGE_BASE + kMaxData;
  monitor::BootParams params;
  params.id = kSelf;
  params.parent_id = 1;
  params.args = {"fuzz", "hypercall"};
  monitor::EntryState entry;
  if (!monitor::SetUpBoot(m_.backend->memory().span(), image, params, &entry, &why)) abort();
  m_.identity = monitor::PvmIdentity{kSelf, 1};
  if (m_.registry.Create(1024) != 0) abort();  // the host default (Host.open maxPvms)
  AddFamily(family);
  m_.family.child_exit_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  m_.channels = std::make_unique<ChannelTable>(m_.backend.get(), &m_.backend->memory());
  m_.console = std::make_unique<monitor::Console>(m_.backend->memory(), &m_.control);
  m_.spares.enabled = setup & 0x10;
  m_.spares.want = setup & 0x40;
  AttachChannels(setup);

  size_t len = in_->U16() % (kMaxData + 1);
  auto data = in_->Bytes(len);
  data_len_ = data.size();
  std::memcpy(m_.backend->memory().At(kDataGpa, data.size()), data.data(), data.size());
  return true;
}

// The registry as the pVM sees it (ids; every pid 0):
//   1 the parent (spawned by the host)   2 this pVM       3, 4 its children (forked)
//   5 a child of 3                       6 an unrelated pVM
//   7 an ended child already waited for  (8 and 65538 are unknown: 65538 shares 2's slot)
// family bit 0: child 3 has ended (registry), bits 1-2: child 4 has ended (registry) /
// its monitor is gone (pidfd), bits 3-4: how they ended, bit 5: child 4 not forked yet.
void Harness::AddFamily(uint8_t family) {
  Registry& r = m_.registry;
  r.Add(1, 0, 0);
  r.Add(kSelf, 1, 0);
  r.Add(3, kSelf, 0);
  r.Add(5, 3, 0);
  r.Add(6, 0, 0);
  r.Add(7, kSelf, 0);
  r.MarkEnded(7, 0, 0);
  uint32_t kind = (family >> 3) & 3;
  int32_t code = kind == 2 ? PVM_SIGKILL : 42;
  if (family & 1) r.MarkEnded(3, kind, code);
  const Fixture& fx = TheFixture();
  m_.family.children.push_back({3, dup(fx.live_pidfd)});
  if (!(family & 0x20)) {
    r.Add(4, kSelf, 0);
    if (family & 2) r.MarkEnded(4, kind, code);
    m_.family.children.push_back({4, dup((family & 4) ? fx.dead_pidfd : fx.live_pidfd)});
  }
}

void Harness::AttachChannels(uint8_t setup) {
  int count = setup & 3;
  if (count == 0) return;
  const Fixture& fx = TheFixture();
  Failure why;
  monitor::NewChannel c;
  if (!monitor::CreateChannel(&c, RegionPages::Memfd, &why)) abort();
  // Slot 0: side A of c (peer: the parent); slot 1: side B of c (a loop in one pVM, so
  // NOTIFY on one rings WAIT on the other). Each end owns its own fds and mapping.
  ChannelEnd a;
  a.peer_id = 1;
  a.side = PVM_CHANNEL_SIDE_A;
  a.memfd = c.memfd;
  a.mem = c.mem;
  a.own_doorbell = c.doorbell_a;
  a.peer_doorbell = c.doorbell_b;
  if (setup & 4) a.peer_pidfd = dup(fx.dead_pidfd);
  ChannelEnd b;
  if (count >= 2) {
    b.peer_id = 1;
    b.side = PVM_CHANNEL_SIDE_B;
    b.memfd = dup(c.memfd);
    void* mem = mmap(nullptr, PVM_CHANNEL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b.memfd, 0);
    if (mem == MAP_FAILED) abort();
    b.mem = static_cast<uint8_t*>(mem);
    b.own_doorbell = dup(c.doorbell_b);
    b.peer_doorbell = dup(c.doorbell_a);
    if (setup & 8) b.peer_pidfd = dup(fx.live_pidfd);
  }
  if (!m_.channels->Attach(0, a, &why)) abort();
  if (count >= 2 && !m_.channels->Attach(1, b, &why)) abort();
  if (count >= 3) {
    monitor::NewChannel h;
    if (!monitor::CreateChannel(&h, RegionPages::Memfd, &why)) abort();
    ChannelEnd e;
    e.peer_id = PVM_CHANNEL_PEER_HOST;
    e.side = PVM_CHANNEL_SIDE_B;
    e.memfd = h.memfd;
    e.mem = h.mem;
    e.own_doorbell = h.doorbell_b;
    e.peer_doorbell = h.doorbell_a;
    if (!m_.channels->Attach(2, e, &why)) abort();
  }
}

uint64_t Special(uint8_t index, uint64_t ram_size, size_t data_len) {
  const uint64_t table[] = {
      0,
      1,
      ~0ull,
      ram_size,
      ram_size - 1,
      ram_size - 4,
      ram_size - 8,
      ram_size - PVM_STACK_SIZE,
      PVM_PAGE_SIZE - 1,
      PVM_PAGE_SIZE,
      PVM_CHANNEL_SLOTS - 1,
      PVM_CHANNEL_SLOTS,
      PVM_CHANNEL_SLOT_SIZE,
      PVM_CHANNEL_SLOT_SIZE + 1,
      1ull << 63,
      (1ull << 62) + 1,
      0xffffffffull,
      0x100000000ull,
      PVM_MIN_RAM,
      PVM_MIN_RAM - 1,
      PVM_MAX_RAM,
      PVM_MAX_RAM + 1,
      PVM_BOOT_INFO_GPA,
      PVM_ARGS_GPA,
      PVM_CONSOLE_GPA,
      PVM_CHANNEL_TABLE_GPA,
      PVM_CHANNEL_WINDOW_GPA,
      kDataGpa + data_len,
      kRegistryEntries + kSelf,
      8,
      PVM_SIGTERM,
      PVM_SIGKILL,
      PVM_SIGUSR1,
      PVM_SIGUSR2,
  };
  return table[index % (sizeof table / sizeof table[0])];
}

// One argument by its 2-bit spec.
uint64_t DecodeArg(Input* in, unsigned spec, uint64_t ram_size, size_t data_len) {
  switch (spec & 3) {
    case 0: return in->Byte();
    case 1: return kDataGpa + in->U16();
    case 2: return in->U64();
    default: return Special(in->Byte(), ram_size, data_len);
  }
}

void Harness::CheckAfterOp(const char* what) {
  CheckStdio(what);
  const Fixture& fx = TheFixture();
  for (int fd : {host_, m_.control.fd(), fx.tiny_elf, fx.live_pidfd, fx.dead_pidfd, m_.family.child_exit_bell}) {
    PVM_FUZZ_CHECK(fcntl(fd, F_GETFD) != -1, "%s closed fd %d, which it does not own", what, fd);
  }
  uint32_t open = 0;
  for (uint32_t s = 0; s < ChannelTable::kSlots; s++) open += m_.channels->Get(s) != nullptr;
  PVM_FUZZ_CHECK(backend_->mapped_regions() == open, "%s: %u channel regions mapped for %u open slots", what,
                 backend_->mapped_regions(), open);
  PVM_FUZZ_CHECK(m_.backend->memory().size() == m_.ram_size, "%s: RAM of %llu bytes, the monitor thinks %llu", what,
                 (unsigned long long)m_.backend->memory().size(), (unsigned long long)m_.ram_size);
  Drain(host_);  // console output, exec requests
}

// EXEC: the host's answer is written before the call (GuestExec waits for it).
//   answer bits 0-1: 0 a refusal (-errno from the next byte), 1 the tiny valid image,
//                    2 the guest's data as the image, 3 a raw 64-bit error (next 8 bytes)
//                    with the tiny image attached when bit 4 is set
//   bit 2: a fork and an attach request come first; bit 3: a malformed datagram first
bool Harness::Exec(const VcpuExit& x) {
  uint8_t answer = in_->Byte();
  const Fixture& fx = TheFixture();
  int sock = host_;
  if (answer & 4) {
    ctl::ForkRequest fork{99};
    ctl::send(sock, ctl::Type::Fork, fork);
    ctl::AttachRequest attach{5, 0, PVM_CHANNEL_SIDE_B, ctl::kAttachShm};
    int shm = memfd_create("fuzz-shm", MFD_CLOEXEC);
    ctl::send(sock, ctl::Type::Attach, attach, nullptr, 0, &shm, 1);
    close(shm);
  }
  if (answer & 8) {
    ctl::Header bad{ctl::Type::ExecImage, 1000};
    send(sock, &bad, sizeof bad, MSG_DONTWAIT);
  }
  int image = -1;
  ctl::ExecImage reply{0};
  switch (answer & 3) {
    case 0: reply.error = -static_cast<int64_t>(in_->Byte()); break;
    case 1: image = dup(fx.tiny_elf); break;
    case 2:
      image = MemfdWith("fuzz-guest-image",
                        std::span<const uint8_t>(m_.backend->memory().At(kDataGpa, data_len_), data_len_));
      break;
    case 3:
      reply.error = static_cast<int64_t>(in_->U64());
      if (answer & 16) image = dup(fx.tiny_elf);
      break;
  }
  ctl::send(sock, ctl::Type::ExecImage, reply, nullptr, 0, image >= 0 ? &image : nullptr, image >= 0 ? 1 : 0);
  if (image >= 0) close(image);

  uint64_t replaced = backend_->memory_replacements();
  monitor::ExecOutcome o = monitor::GuestExec(&m_, x);
  // Whatever GuestExec did not read (it refused before asking) is not for later calls.
  Drain(m_.control.fd());
  m_.host.requests.Clear();
  m_.host.waiting = false;
  CheckAfterOp("EXEC");
  if (o.ends_pvm) return false;
  if (o.error != 0) {
    static const int64_t kErrors[] = {PVM_EFAULT, PVM_E2BIG, PVM_EINVAL, PVM_ENOENT, PVM_ENOEXEC, PVM_ENOMEM};
    bool known = false;
    for (int64_t e : kErrors) known |= o.error == -e;
    PVM_FUZZ_CHECK(known && !o.why.empty(), "EXEC failed with %lld (%s)", (long long)o.error, o.why.c_str());
    PVM_FUZZ_CHECK(backend_->memory_replacements() == replaced, "a failed EXEC replaced guest RAM");
    return true;
  }
  PVM_FUZZ_CHECK(backend_->memory_replacements() == replaced + 1 && m_.console && !m_.started,
                 "EXEC succeeded without putting a new image in place");
  const auto& e = backend_->entry();
  PVM_FUZZ_CHECK(e.rip >= PVM_IMAGE_BASE && e.rip < m_.ram_size - PVM_STACK_SIZE && e.rsp == m_.ram_size,
                 "EXEC entry rip 0x%llx rsp 0x%llx", (unsigned long long)e.rip, (unsigned long long)e.rsp);
  if ((answer & 3) == 1) {
    PVM_FUZZ_CHECK(e.rip == fx.tiny_entry, "EXEC of the tiny image: entry 0x%llx", (unsigned long long)e.rip);
    PVM_FUZZ_CHECK(std::memcmp(m_.backend->memory().At(PVM_IMAGE_BASE, 4), ELFMAG, 4) == 0,
                   "EXEC: the new image is not in RAM");
  }
  return true;
}

void Harness::Poke() {
  uint8_t spec = in_->Byte();
  uint64_t gpa = DecodeArg(in_, spec, m_.ram_size, data_len_);
  auto bytes = in_->Bytes(in_->Byte());
  if (uint8_t* at = m_.backend->memory().GuestBuffer(gpa, bytes.size())) std::memcpy(at, bytes.data(), bytes.size());
}

// What vcpu_loop.cc's ServeHost does with an Attach request the host sent, over fds the
// host chose: [spec] [size selector].
//   op 6: a shared-memory region: a memfd of the selected size, sealed against
//         shrinking unless spec bit 0
//   op 7: a channel: a memfd of the selected size (the right one is PVM_CHANNEL_SIZE),
//         two eventfd doorbells (spec bit 1: the own one is /dev/null instead), side A
//         with spec bit 2, a peer pidfd with bit 3 (bit 4: a dead peer)
void Harness::HostAttach(uint8_t op) {
  uint8_t spec = in_->Byte();
  static const uint64_t kSizes[] = {PVM_PAGE_SIZE,         PVM_CHANNEL_SIZE,         PVM_CHANNEL_SLOT_SIZE,
                                    PVM_CHANNEL_SLOT_SIZE + PVM_PAGE_SIZE, 0,      100,
                                    PVM_CHANNEL_SIZE - PVM_PAGE_SIZE,       3 * PVM_PAGE_SIZE};
  uint64_t size = kSizes[in_->Byte() % (sizeof kSizes / sizeof kSizes[0])];
  int memfd = memfd_create("fuzz-host-region", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (memfd < 0 || ftruncate(memfd, static_cast<off_t>(size)) != 0) abort();
  int slot = m_.channels->FreeSlot();
  Failure why;
  bool ok;
  if ((op & 7) == 6) {
    if (!(spec & 1)) fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    if (slot < 0) {
      close(memfd);
      return;
    }
    ok = m_.channels->AttachShmFd(static_cast<uint32_t>(slot), memfd, &why);
  } else {
    ChannelEnd end;
    end.peer_id = PVM_CHANNEL_PEER_HOST;
    end.side = (spec & 4) ? PVM_CHANNEL_SIDE_A : PVM_CHANNEL_SIDE_B;
    end.memfd = memfd;
    end.own_doorbell = (spec & 2) ? open("/dev/null", O_RDWR | O_CLOEXEC) : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    end.peer_doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (spec & 8) end.peer_pidfd = dup((spec & 16) ? TheFixture().dead_pidfd : TheFixture().live_pidfd);
    if (slot < 0) {
      ChannelTable::Discard(&end);
      return;
    }
    ok = m_.channels->AttachShared(static_cast<uint32_t>(slot), end, &why);
  }
  CheckAfterOp("a host attach");
  const ChannelEnd* got = m_.channels->Get(static_cast<uint32_t>(slot));
  PVM_FUZZ_CHECK(ok == (got != nullptr), "attach %s but slot %d is %s", ok ? "succeeded" : "failed", slot,
                 got ? "open" : "free");
  if (ok && (op & 7) == 6) {
    PVM_FUZZ_CHECK(got->shm && got->size == size && size > 0 && size % PVM_PAGE_SIZE == 0 &&
                       size <= PVM_CHANNEL_SLOT_SIZE && !(spec & 1),
                   "a region of %llu bytes (sealed: %d) attached", (unsigned long long)size, !(spec & 1));
  }
  if (ok && (op & 7) == 7) {
    PVM_FUZZ_CHECK(!got->shm && size == PVM_CHANNEL_SIZE, "a channel memfd of %llu bytes attached",
                   (unsigned long long)size);
  }
}

void Harness::Fault(uint8_t op) {
  VcpuExit x;
  static const VcpuExit::Kind kKinds[] = {VcpuExit::Kind::Exception, VcpuExit::Kind::TripleFault,
                                          VcpuExit::Kind::Io,        VcpuExit::Kind::Mmio,
                                          VcpuExit::Kind::Halt,      VcpuExit::Kind::Internal};
  x.kind = kKinds[(op & 7) % 6];
  uint8_t spec = in_->Byte();
  x.rip = DecodeArg(in_, spec, m_.ram_size, data_len_);
  x.vector = (spec & 4) ? in_->U32() : in_->Byte() % 32;
  x.vector_known = spec & 8;
  x.has_error_code = spec & 16;
  x.error_code = DecodeArg(in_, spec >> 5, m_.ram_size, data_len_);
  x.cr2 = DecodeArg(in_, spec >> 6, m_.ram_size, data_len_);
  x.gpa = x.cr2;
  x.port = in_->U16();
  x.size = in_->Byte();
  x.is_write = spec & 0x80;
  auto detail = in_->Bytes(in_->Byte() % sizeof x.detail);
  std::memcpy(x.detail, detail.data(), detail.size());  // the backend's text: always terminated
  ctl::Exit e = monitor::DescribeFault(x, m_.ram_size);
  PVM_FUZZ_CHECK(memchr(e.reason, 0, sizeof e.reason) != nullptr && e.reason[0] != 0, "fault reason not a string");
  PVM_FUZZ_CHECK(e.kind == ctl::ExitKind::Fault, "a fault exit of kind %u", static_cast<unsigned>(e.kind));
}

// false: the pVM is over.
bool Harness::Hypercall(uint8_t op) {
  VcpuExit x;
  x.kind = VcpuExit::Kind::Hypercall;
  x.nr = op & 15;
  x.rip = PVM_IMAGE_BASE + op;
  if (op & 0x10) g_arrived |= 1ull << (in_->Byte() & 63);
  if (op & 0x20) {
    // The guest writes its console head (the ring is drained at every exit).
    uint8_t* info = m_.backend->memory().At(PVM_BOOT_INFO_GPA, PVM_BOOT_INFO_SIZE);
    uint64_t tail;
    std::memcpy(&tail, info + PVM_BOOT_INFO_CONSOLE_TAIL_OFFSET, 8);
    uint64_t head = tail + DecodeArg(in_, in_->Byte(), m_.ram_size, data_len_);
    std::memcpy(info + PVM_BOOT_INFO_CONSOLE_HEAD_OFFSET, &head, 8);
  }
  uint8_t spec = in_->Byte();
  for (int i = 0; i < 3; i++) x.args[i] = DecodeArg(in_, spec >> (2 * i), m_.ram_size, data_len_);
  // Through the transport, as the monitor gets it: the call in the argument block, the
  // doorbell value naming the block.
  uint8_t* block = m_.backend->memory().At(PVM_HC_BLOCK_GPA, PVM_HC_BLOCK_STRUCT_SIZE);
  std::memcpy(block + PVM_HC_BLOCK_NR_OFFSET, &x.nr, 4);
  std::memcpy(block + PVM_HC_BLOCK_ARGS_OFFSET, x.args, sizeof x.args);
  x.port = PVM_HC_PORT;
  x.value = PVM_HC_BLOCK_GPA;
  x.nr = ~0u;
  PVM_FUZZ_CHECK(monitor::ReadHypercall(m_.backend->memory(), &x) == monitor::Doorbell::Call && x.nr == (op & 15u),
                 "the argument block did not read back");
  m_.console->Drain();
  switch (x.nr) {
    case PVM_HC_FORK: return true;  // forks the process: not here
    case PVM_HC_EXEC: return Exec(x);
    case PVM_HC_WAIT:
    case PVM_HC_WAITPID: x.args[2] = 0; break;  // never block
  }
  size_t children = m_.family.children.size();
  monitor::HypercallResult r = monitor::HandleHypercall(x, &m_, &wait_mask_);
  CheckAfterOp("a hypercall");
  if (r.ends) {
    PVM_FUZZ_CHECK(memchr(r.exit.reason, 0, sizeof r.exit.reason) != nullptr, "exit reason not a string");
    if (x.nr == PVM_HC_EXIT) {
      PVM_FUZZ_CHECK(r.exit.kind == ctl::ExitKind::Code && r.exit.code == static_cast<int32_t>(x.args[0] & 0xff),
                     "EXIT(%llu) ended with kind %u code %d", (unsigned long long)x.args[0],
                     static_cast<unsigned>(r.exit.kind), r.exit.code);
    } else {
      PVM_FUZZ_CHECK(r.exit.kind == ctl::ExitKind::Fault && r.exit.fault == ctl::FaultKind::BadHypercall,
                     "hypercall %u ended the pVM", x.nr);
    }
    return false;
  }
  int64_t value = static_cast<int64_t>(r.value);
  switch (x.nr) {
    case PVM_HC_GETID: PVM_FUZZ_CHECK(r.value == kSelf, "GETID gave %llu", (unsigned long long)r.value); break;
    case PVM_HC_KILL:
      // Nobody has a pid here: the best KILL can do is get past the checks to ESRCH.
      PVM_FUZZ_CHECK(value == -PVM_EINVAL || value == -PVM_ESRCH || value == -PVM_EPERM, "KILL gave %lld",
                     (long long)value);
      break;
    case PVM_HC_WAITPID:
      if (value > 0) {
        PVM_FUZZ_CHECK(m_.family.children.size() == children - 1, "WAITPID returned %lld but reaped nobody", (long long)value);
        PVM_FUZZ_CHECK(value == 3 || value == 4, "WAITPID returned %lld, not a child", (long long)value);
      } else {
        PVM_FUZZ_CHECK(m_.family.children.size() == children, "WAITPID reaped a child but returned %lld", (long long)value);
      }
      break;
    case PVM_HC_SHM_CREATE:
      if (value >= 0) {
        const ChannelEnd* end = m_.channels->Get(static_cast<uint32_t>(value));
        PVM_FUZZ_CHECK(end && end->shm && end->size >= x.args[0] && end->size % PVM_PAGE_SIZE == 0,
                       "SHM_CREATE(%llu) gave slot %lld", (unsigned long long)x.args[0], (long long)value);
      }
      break;
    default: break;
  }
  return true;
}

void Harness::Run() {
  SetUp();
  CheckAfterOp("the set-up");
  for (int i = 0; i < kMaxOps && !in_->empty(); i++) {
    uint8_t op = in_->Byte();
    switch (op >> 6) {
      case 0:
      case 1:
        if (!Hypercall(op)) return;
        break;
      case 2: Poke(); break;
      case 3:
        if ((op & 7) >= 6) HostAttach(op);
        else Fault(op);
        break;
    }
  }
}

}  // namespace
}  // namespace pvm::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  pvm::fuzz::EnsureStdio();
  pvm::fuzz::TheFixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvm::fuzz;
  TheFixture();
  int fds_before = CountOpenFds();
  g_arrived = 0;
  {
    Input in(data, size);
    Harness h(&in);
    h.Run();
  }
  CheckStdio("the hypercall code");
  CheckNoFdLeak("fuzz_hypercall", fds_before);
  return 0;
}
