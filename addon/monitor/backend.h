// The narrow interface between the monitor's core (boot, hypercalls, faults, control
// messages) and a virtualization backend. `kvm` implements it now; `xen` and fork
// (state save, fork(2), rebuild over copy-on-write RAM) are meant to be additions.
//
// Life of a backend: Create -> (image and boot data written into memory()) ->
// SetEntryState -> SetKickSignals -> Run / CompleteHypercall ... -> destructor (destroy).
// Hypercalls travel through guest memory (transport.h): a backend reports the port
// write and resumes the vCPU; it reads and writes no register for them.
#pragma once

#include <signal.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "monitor/failure.h"
#include "monitor/guest_memory.h"
#include "pvm/abi.h"

namespace pvm::monitor {

// The vCPU at its first instruction: 64-bit long mode, flat code/data segments from
// the GDT boot set-up wrote, paging on with its identity page tables.
struct EntryState {
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rdi = 0;
  uint64_t rsi = 0;  // 0 at boot; used by the pool's warm-up stub
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
  // Hypercall: port and value from the backend, nr and args from the argument block
  uint32_t value = 0;
  uint32_t nr = 0;
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

class Backend {
 public:
  virtual ~Backend() = default;

  // Builds the VM and its vCPU, without RAM (so it can be done before the RAM size is
  // known). Idempotent; Create calls it if nobody did.
  virtual bool Prepare(Failure* why) = 0;
  // Gives the VM ram_size bytes (a multiple of 2 MiB) of zeroed guest RAM at
  // guest-physical 0.
  virtual bool Create(uint64_t ram_size, Failure* why) = 0;
  // Guest RAM; the image loader and boot set-up write into it (offset = GPA).
  virtual const GuestMemory& memory() const = 0;
  // Puts the vCPU at its first instruction. Call once RAM holds the image and boot data.
  virtual bool SetEntryState(const EntryState& entry, Failure* why) = 0;
  // Only the general registers of it (rip, rsp, rdi, rflags): when SetEntryState was
  // called before with the same control state (a pooled monitor, ahead of the image).
  virtual bool SetEntryRegs(const EntryState& entry, Failure* why) = 0;
  // Runs the vCPU until it needs the monitor. false only when the backend itself failed.
  virtual bool Run(VcpuExit* exit, Failure* why) = 0;
  // Signals in `kick` make Run return Interrupted. The caller keeps them blocked in the
  // monitor; the backend lets them through only while the guest runs, so one that
  // arrives between two runs is not lost (the next Run returns at once).
  virtual bool SetKickSignals(const sigset_t& kick, Failure* why) = 0;
  // The hypercall Run reported last is done (its result is in guest memory already);
  // the next Run continues after the port write.
  virtual bool CompleteHypercall(Failure* why) = 0;
  // The whole vCPU state at the current exit, and putting one back (fork builds on it).
  virtual std::unique_ptr<SavedState> SaveState(Failure* why) = 0;
  virtual bool RestoreState(const SavedState& state, Failure* why) = 0;
  virtual std::unique_ptr<SavedState> LoadState(const uint8_t* bytes, size_t size, Failure* why) = 0;
  // Dirty logging on guest RAM (for warm spares): on/off, and the pages (4 KiB page
  // numbers) the guest wrote since the last TakeDirtyLog.
  virtual bool SetDirtyLogging(bool on, Failure* why) = 0;
  virtual bool TakeDirtyLog(std::vector<uint64_t>* pages, Failure* why) = 0;
  // Extra guest-physical regions besides RAM (channels): `index` >= 1 names one.
  // host is page aligned, size a multiple of the page size; the mapping is shared.
  virtual bool MapRegion(uint32_t index, uint64_t gpa, uint8_t* host, uint64_t size, Failure* why) = 0;
  virtual void UnmapRegion(uint32_t index) = 0;
  // Completes the exit in progress inside the backend (a port write RIP has not moved
  // past yet, pending register write-backs) without entering the guest. Before the vCPU
  // state is read or replaced wholesale.
  virtual bool FinishExit(Failure* why) = 0;
  // exec: guest RAM becomes `fresh` (already holding the new image); the old RAM is
  // released. The vCPU must then get an entry state.
  virtual bool ReplaceMemory(GuestMemory&& fresh, Failure* why) = 0;
  // In a forked child: drop the VM inherited from the parent (it belongs to the parent's
  // address space) and build a new one over the same, now copy-on-write, RAM and the
  // regions still mapped. The vCPU state must then be restored.
  virtual bool RebuildAfterFork(Failure* why) = 0;

  // "kvm", "xen", ...
  virtual const char* name() const = 0;
  // True when the host virtualizes in software (the kvm_pvm flavour of KVM).
  virtual bool software_virtualization() const = 0;
  // True when exceptions can be delivered on an interrupt stack (TSS IST): see
  // BootParams::exception_stack.
  virtual bool exception_stack_works() const = 0;
  // Exits seen so far (every return from the guest, including interrupted runs).
  virtual uint64_t exit_count() const = 0;
};

std::unique_ptr<Backend> CreateKvmBackend();

}  // namespace pvm::monitor
