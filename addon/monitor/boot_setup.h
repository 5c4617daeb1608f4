// Everything in guest RAM besides the image that the guest needs at its first
// instruction, laid out as hypercalls/abi.json says: the GDT (and a TSS), identity page
// tables, the boot-info page with the argument strings. Also the matching vCPU entry
// state. Pure: writes only into the RAM span it is given.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "monitor/backend.h"
#include "monitor/elf_loader.h"
#include "monitor/failure.h"

namespace pvm::monitor {

// boot-info fork_channel when there is none.
constexpr uint32_t kNoChannel = PVM_NO_CHANNEL;

struct BootParams {
  uint64_t id = 0;
  uint64_t parent_id = 0;
  std::vector<std::string_view> args;  // argv[0..argc), without NULs
  // The environment the host gave ("K=v" each), after argv in the ARGS area (boot-info
  // envp/envc, PVM_BOOT_FLAG_ENV); without has_env there is none.
  bool has_env = false;
  std::vector<std::string_view> env;
  // Exceptions are delivered on the fault stack (TSS IST1), so a stack overflow is
  // reported too. Where the backend cannot (kvm_pvm raises #SS delivering through an
  // IST), on the faulting stack: a stack overflow then ends in a shutdown the backend
  // decodes itself.
  bool exception_stack = true;
  // Backend::needs_cpu_tables(): false writes no GDT/TSS/IDT/page tables (a backend
  // that runs the guest as a process has none).
  bool cpu_tables = true;
  // Backend::hypercall_entry(), for the boot-info page.
  uint64_t hypercall_entry = 0;
  // Backend::tsc_khz(), for the boot-info page (with a new clock_epoch).
  uint64_t tsc_khz = 0;
  // What makes a clone unique (clone_identity.h): the boot-info page's generation and entropy.
  uint64_t generation = 0;
  uint64_t entropy[4] = {};
};

// Bytes the argument vector takes in the ARGS area: argc + 1 pointers and the strings
// with their NULs. Callers check it against PVM_ARGS_SIZE before SetUpBoot.
uint64_t ArgsAreaBytes(const std::vector<std::string_view>& args);
// The same for the arguments and the environment of `params` (what SetUpBoot writes).
uint64_t ArgsAreaBytes(const BootParams& params);

// RAM size asked for, checked against [PVM_MIN_RAM, PVM_MAX_RAM] and rounded up to whole
// 2 MiB pages. BadConfig if out of range.
bool CheckRamSize(uint64_t requested, uint64_t* out, Failure* why);
// Image files above this are refused before reading (RAM size, at least 64 MiB).
uint64_t ImageFileLimit(uint64_t ram_size);

// The stack guard: this page at the bottom of the stack area is left unmapped, so a
// stack overflow faults instead of running into the heap.
uint64_t StackGuardGpa(uint64_t ram_size);

// The parts of SetUpBoot that depend on the RAM size only (GDT, TSS, IDT and its
// exception stubs, page tables): a pooled monitor writes them before it knows the image.
void WriteBootTables(std::span<uint8_t> ram, bool exception_stack);

// What an exception stub reported (abi.json layout: the frame at the fault stack's top).
struct FaultFrame {
  uint32_t vector;
  bool has_error_code;
  uint64_t error_code;
  uint64_t rip;  // of the faulting instruction (after it for the traps #BP, #OF)
  uint64_t rsp;  // the guest's stack pointer when it faulted
};
// Reads the report of the stub the vCPU stopped in (exit_rip: at its fault-port write;
// exit_rsp: the frame the stub completed).
// False if exit_rip is no stub's, or the frame is not that stub's (a guest's own write
// to the fault port, or a frame the guest overwrote).
bool ReadFaultFrame(const GuestMemory& ram, uint64_t exit_rip, uint64_t exit_rsp, FaultFrame* out);

// The entry state without an image: every control register and segment as SetUpBoot
// gives them, rip/rsp/rdi 0 (a pooled monitor sets the vCPU up with it ahead of time).
EntryState BootControlState();

// Writes GDT, TSS, IDT, page tables (unless tables_ready) and boot info into ram (its size is the guest RAM size:
// a multiple of 2 MiB, at least PVM_MIN_RAM) and returns the entry state.
// BadConfig if the arguments do not fit.
bool SetUpBoot(std::span<uint8_t> ram, const LoadedImage& image, const BootParams& params, EntryState* entry,
               Failure* why, bool tables_ready = false);

}  // namespace pvm::monitor
