// Static Linux programs (an image with no pvm ABI note): the Linux personality, a guest
// blob built in hypercalls/linux/ and embedded in the monitor, goes into guest RAM beside
// the program and is entered first; it builds the stack Linux gives and serves the
// program's syscalls inside the guest.
#pragma once

#include <cstdint>
#include <span>

#include "monitor/backend.h"
#include "monitor/elf_loader.h"
#include "monitor/failure.h"

namespace pvm::monitor {

// The refusal for a Linux program where the backend cannot run one (AbiMismatch: to such
// a backend it is an image without a pvm ABI note). `reason` ends the message.
bool RefuseLinuxProgram(const char* reason, Failure* why);
// The reason where a backend cannot run one.
inline constexpr const char* kLinuxBackendsText =
    "needs the kvm backend, or the process backend on a host with FSGSBASE in user mode";

// The personality the monitor embeds (linux_blob.S; only boot.cc uses it, so tools built
// from the monitor's sources without the blob still link).
std::span<const uint8_t> EmbeddedLinuxPersonality();

// Copies the personality `blob` to its address, fills its handoff from `image`, and
// points the entry state (made by SetUpBoot for the program) at the personality instead.
// `files` (an archive, hypercalls/linux/handoff.h; may be empty) goes at the top of the
// heap area, where the personality finds it as the pVM's filesystem.
// Where the guest runs in user mode (process), it also hands `backend` the syscall entry
// and the sled (Backend::SetLinuxSyscalls): an exec that fails after this takes them back.
bool LoadLinuxPersonality(Backend* backend, std::span<uint8_t> ram, std::span<const uint8_t> blob,
                          const LoadedImage& image, std::span<const uint8_t> files, EntryState* entry, Failure* why);

// The archive the running Linux personality in `ram` names in its handoff (for an exec
// to carry over), or an empty span if it names none or something out of RAM.
std::span<const uint8_t> LinuxFilesOf(const GuestMemory& ram, uint64_t ram_size);

}  // namespace pvm::monitor
