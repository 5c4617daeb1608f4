// The interface between the monitor's core (boot, hypercalls, faults, family, channels,
// control messages) and a virtualization backend (addon/monitor/backends/<name>/). The
// core names no backend; it gets one from the registry (backends/registry.h).
//
// Life of a backend: Prepare -> Create (RAM) -> image and boot data written into
// memory() -> SetEntryState -> SetKickSignals -> Run / CompleteHypercall ... -> destructor.
// Fork: SaveState, BeforeFork, fork(2) of the monitor, then AfterForkInChild (+
// RestoreState) in the child and AfterForkInParent in the parent (fork.cc).
// Hypercalls travel through guest memory (transport.h): a backend reports the port
// write and resumes the vCPU; it reads and writes no register for them.
#pragma once

#include <signal.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/region_memory.h"
#include "monitor/failure.h"
#include "monitor/guest_memory.h"
#include "monitor/seccomp.h"
#include "pvm/abi.h"

namespace pvm::monitor {

// The vCPU at its first instruction: 64-bit long mode, flat code/data segments from
// the GDT boot set-up wrote, paging on with its identity page tables.
struct EntryState {
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rdi = 0;
  uint64_t rsi = 0;  // 0 at boot; used by a backend's warm-up stub
  uint64_t rdx = 0;
  uint64_t rflags = 0;
  uint64_t cr0 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;
  uint64_t gdt_base = 0;
  uint16_t gdt_limit = 0;
  uint16_t code_selector = 0;
  uint16_t data_selector = 0;
  uint16_t tss_selector = 0;
  uint64_t tss_base = 0;
  uint32_t tss_limit = 0;
  uint64_t idt_base = 0;  // the monitor's IDT: every exception reaches a reporting stub
  uint16_t idt_limit = 0;
};

// Why the vCPU came back to the monitor, in backend-neutral terms.
struct VcpuExit {
  enum class Kind {
    Hypercall,    // a 4-byte write to PVM_HC_PORT or PVM_HC_FLOOR_PORT: port, value (the
                  // core's transport decodes nr, args); finish with CompleteHypercall
    Exception,    // the guest took an exception it had no handler for: vector, ...
    FaultReport,  // an exception stub wrote to the fault port: rip (in the stub), rsp, cr2
    TripleFault,  // the VM shut down: no exception on record, or its delivery failed
    Io,           // port I/O that is not a hypercall: port, size, is_write
    Mmio,         // access to guest-physical memory with no RAM: gpa, is_write
    Halt,         // hlt with nothing to wake the vCPU
    Internal,     // the backend could not run the vCPU: detail
    Interrupted,  // a signal interrupted the run; nothing happened to the guest
  };
  Kind kind = Kind::Internal;
  uint64_t rip = 0;
  uint64_t rsp = 0;  // FaultReport only
  // Hypercall
  uint32_t value = 0;  // Hypercall: what the guest wrote (its argument block's address)
  uint32_t nr = 0;     // Hypercall: from the argument block (transport.cc)
  uint64_t args[PVM_HC_MAX_ARGS] = {};
  // Exception; also TripleFault when vector_known (the exception whose delivery failed)
  bool vector_known = false;
  uint32_t vector = 0;
  bool has_error_code = false;
  uint64_t error_code = 0;
  uint64_t cr2 = 0;
  // Io / Mmio; Hypercall: port
  uint16_t port = 0;
  uint32_t size = 0;
  bool is_write = false;
  uint64_t gpa = 0;
  // Exception: the guest ran a raw `syscall` (or int $0x80) with this number, which the
  // backend stopped before it reached the host (process: seccomp); -1 otherwise.
  int64_t raw_syscall = -1;
  // Exception: rip was outside guest memory (process: the guest jumped into the monitor).
  bool outside_guest = false;
  // Internal: what the backend saw, readable
  char detail[120] = {};
};

// A vCPU state saved by SaveState; only the backend kind that made it can restore it.
class SavedState {
 public:
  virtual ~SavedState() = default;
  // As bytes, to hand to another process (a warm spare); Backend::LoadState reads them.
  virtual void Serialize(std::vector<uint8_t>* out) const = 0;
};

// Optional: which guest pages changed, for reset (reset.h) and warm fork spares
// (spares.h). A backend without it (Backend::dirty_log() == nullptr) forks by fork(2)
// only and cannot reset.
class DirtyLog {
 public:
  virtual ~DirtyLog() = default;
  // On/off for guest RAM.
  virtual bool SetLogging(bool on, Failure* why) = 0;
  // Appends the 4 KiB page numbers written since the last call (the log restarts),
  // including pages the backend itself writes behind the log's back.
  virtual bool Take(std::vector<uint64_t>* pages, Failure* why) = 0;
  // Whether the monitor's own writes to guest RAM are logged too (process: the guest's
  // RAM is the monitor's, and a write to a logged page costs a fault). Then a reset
  // Peeks, copies the pages back, and Takes after, so that its own copies are neither
  // slowed by the log nor counted as written by the next reset.
  virtual bool logs_monitor_writes() const { return false; }
  // Appends the pages Take would, without restarting the log. Default: Take.
  virtual bool Peek(std::vector<uint64_t>* pages, Failure* why) { return Take(pages, why); }
  // Restarts the log as Take does, dropping what Take would return, when the caller knows
  // every page written since the log last restarted is in `written` (a bit per page; a
  // reset that has just copied those back): a backend may then look only there.
  virtual bool Restart(const std::vector<uint64_t>& written, Failure* why) {
    (void)written;
    std::vector<uint64_t> dropped;
    return Take(&dropped, why);
  }
};

// The monitor's current signal mask minus `kick`: what is let through while the guest
// runs (or the vCPU loop sleeps), so that a kick interrupts it. false if it cannot be read.
inline bool MaskLettingIn(const sigset_t& kick, sigset_t* out) {
  if (sigprocmask(SIG_SETMASK, nullptr, out) != 0) return false;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sigismember(&kick, sig) == 1) sigdelset(out, sig);
  }
  return true;
}

class Backend {
 public:
  virtual ~Backend() = default;

  // --- the VM ---
  // Builds the VM and its vCPU without RAM (done while the host sends Boot, or in the
  // pool). Idempotent; Create calls it if nobody did.
  virtual bool Prepare(Failure* why) = 0;
  // Gives the VM ram_size bytes (a multiple of 2 MiB) of zeroed guest RAM at GPA 0.
  virtual bool Create(uint64_t ram_size, Failure* why) = 0;
  // Guest RAM as the monitor sees it; the loader and boot set-up write into it.
  virtual const GuestMemory& memory() const = 0;
  // New zeroed RAM that is not the guest's yet: exec loads the next image into it, then
  // ReplaceMemory makes it the guest's.
  virtual bool AllocateMemory(uint64_t size, GuestMemory* out, Failure* why) = 0;
  // exec: guest RAM becomes `fresh` (from AllocateMemory, holding the new image); the old
  // RAM goes to `fresh` and is released with it. The vCPU then needs an entry state.
  virtual bool ReplaceMemory(GuestMemory&& fresh, Failure* why) = 0;
  // Lets pVMs of one image share its read-only pages: [offset, offset+length) of fd at
  // gpa of `ram`, which holds the same bytes already. Best effort: false leaves RAM as is.
  virtual bool ShareFilePages(const GuestMemory& ram, uint64_t gpa, int fd, uint64_t offset, uint64_t length) = 0;
  // Extra guest-physical regions besides RAM (channels): `index` >= 1 names one.
  // host is page aligned, size a multiple of the page size; the mapping is shared.
  virtual bool MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) = 0;
  // False where MapRegion cannot work at all: a fork that would make a channel is
  // refused up front (ENOSYS) rather than half made.
  virtual bool maps_regions() const { return true; }
  virtual void UnmapRegion(uint32_t index) = 0;
  // What channel and region pages must be made of for MapRegionOf (common/region_memory.h).
  virtual RegionPages region_pages() const { return RegionPages::Memfd; }
  // MapRegion where `host` maps the data pages of `fd` (a region_pages() fd): a backend
  // that must find the pages themselves (xen: their machine frames) reads them from fd.
  virtual bool MapRegionOf(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, int fd, Failure* why) {
    return MapRegion(index, gpa, host, size, why);
  }

  // --- the vCPU ---
  // Puts the vCPU at its first instruction. Call once RAM holds the image and boot data.
  virtual bool SetEntryState(const EntryState& entry, Failure* why) = 0;
  // Only the general registers of it (rip, rsp, rdi, rsi, rdx, rflags): when
  // SetEntryState was called before with the same control state (a pooled monitor).
  virtual bool SetEntryRegs(const EntryState& entry, Failure* why) = 0;
  // A pooled monitor, RAM and entry control state set: runs the guest once over the
  // pages a small guest touches, so the spawn that takes it pays no first-time costs.
  // Leaves RAM all zero. A backend with nothing to warm returns true.
  virtual bool WarmUp(Failure* why) = 0;
  // Runs the vCPU until it needs the monitor. false only when the backend itself failed.
  virtual bool Run(VcpuExit* exit, Failure* why) = 0;
  // The exit loop's kick: signals in `kick` make Run return Interrupted. The caller keeps
  // them blocked in the monitor; the backend lets them through only while the guest runs,
  // so one that arrives between two runs is not lost (the next Run returns at once).
  virtual bool SetKickSignals(const sigset_t& kick, Failure* why) = 0;
  // The hypercall Run reported last is done (its result is in guest memory already);
  // the next Run continues after the port write.
  virtual bool CompleteHypercall(Failure* why) = 0;
  // Completes the exit in progress inside the backend without entering the guest.
  // Before the vCPU state is read or replaced wholesale (exec).
  virtual bool FinishExit(Failure* why) = 0;

  // --- save/restore and fork ---
  // The whole vCPU state at the current exit, and putting one back.
  virtual std::unique_ptr<SavedState> SaveState(Failure* why) = 0;
  virtual bool RestoreState(const SavedState& state, Failure* why) = 0;
  virtual std::unique_ptr<SavedState> LoadState(const uint8_t* bytes, size_t size, Failure* why) = 0;
  // Reset (reset.h): puts back a state SaveState made of this same vCPU earlier. A
  // backend may write only what changed since. Default: RestoreState.
  virtual bool RewindState(const SavedState& state, Failure* why) { return RestoreState(state, why); }
  // fork.cc fork(2)s the monitor (its state: channels, family, control) and asks the
  // backend to clone the VM around it. Right before fork(2) (xen: clone the domain here).
  virtual bool BeforeFork(Failure* why) = 0;
  // In the child process after fork(2): make the VM this process's own (kvm: a new VM
  // over the copy-on-write RAM and the regions still mapped). RestoreState follows.
  virtual bool AfterForkInChild(Failure* why) = 0;
  // In the parent after fork(2) (or after the fork failed): the parent's VM runs on.
  virtual void AfterForkInParent() = 0;
  // How this backend clones a VM when it has a way of its own (xen: ctl::kForkCopy), for
  // the fork result's path; -1: fork(2)'s copy-on-write, the path the core picked.
  virtual int fork_path() const { return -1; }
  // Reset's and warm spares' capability, or nullptr.
  virtual DirtyLog* dirty_log() = 0;
  // Whether warm spares (spares.h) can work: they need the dirty log and more (a VM a
  // spare builds ahead). false: forkSpares is refused quietly (forks say spares-off).
  virtual bool supports_spares() { return dirty_log() != nullptr; }

  // --- what it is ---
  // The registry's name: "kvm", "process", "xen".
  virtual const char* name() const = 0;
  // Backend-specific flags the host gets in Ready (kvm: bit 0 = software flavour).
  virtual uint32_t flags() const = 0;
  // True when exceptions can be delivered on an interrupt stack (TSS IST): see
  // BootParams::exception_stack.
  virtual bool exception_stack_works() const = 0;
  // Exits seen so far (every return from the guest, including interrupted runs).
  virtual uint64_t exit_count() const = 0;

  // --- what the core adapts to (defaults: a VM, as kvm) ---
  // Whether boot set-up writes the CPU tables (GDT, TSS, IDT, page tables) below 64 KiB.
  // A backend that runs the guest as a process has no such tables, and cannot even map
  // memory there: boot set-up then writes only the boot data (boot info, args, stack).
  virtual bool needs_cpu_tables() const { return true; }
  // What boot set-up puts in the boot-info page's hypercall_entry (abi.json): 0 where a
  // hypercall is a port write; otherwise the address the runtime calls instead.
  virtual uint64_t hypercall_entry() const { return 0; }
  // What boot set-up puts in the boot-info page's tsc_khz (abi.json): the rate of the
  // guest's rdtsc in kHz where it is steady and known, so the runtime reads the clock
  // without an exit; 0: every clock read is a TIME hypercall.
  virtual uint64_t tsc_khz() const { return 0; }
  // Whether a static Linux program (an image with no pvm ABI note) can run: its
  // personality (hypercalls/linux/) takes the program's `syscall` instruction as a jump
  // to LSTAR inside the guest (kvm), or the backend catches it and sends it there
  // (process: SetLinuxSyscalls). A backend that can do neither says no.
  virtual bool runs_linux_programs() const { return false; }
  // Where the guest runs in the host's user mode (needs_cpu_tables() false) and so a
  // `syscall` cannot reach LSTAR: `syscall_entry` is the personality's entry, where the
  // backend resumes the guest after catching a `syscall` (0: the image is no Linux
  // program, a raw `syscall` ends the pVM again); `sled` is the rewrite's page for
  // virtual address 0 (linux_rewrite.h), or null to take it away. Returns whether the
  // sled is in place (rewritten sites need it). Not asked where the sled is guest RAM.
  virtual bool SetLinuxSyscalls(uint64_t syscall_entry, const uint8_t* sled) { return false; }
  // Confinement (seccomp.h): system calls made from an instruction below this address
  // are the guest's (the guest runs inside the monitor process) and trap to the
  // backend instead of reaching the host. 0: the guest cannot make any (a VM).
  virtual uint64_t guest_code_limit() const { return 0; }
  // Confinement: calls allowed with one argument value only, beyond the registry's
  // BackendEntry::seccomp_additions (known once Prepare ran: they may name addresses).
  virtual std::vector<SeccompArgRule> seccomp_arg_rules() const { return {}; }
  // Before the core sleeps in a call that kick signals must interrupt only through the
  // wait mask it passes (ppoll): a backend that keeps kicks blocked lazily (process)
  // makes the block real here. Nothing to do where kicks are always blocked (kvm).
  virtual void SettleKicks() {}
};

}  // namespace pvm::monitor
