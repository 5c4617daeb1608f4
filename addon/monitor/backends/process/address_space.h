// Guest memory inside the monitor process at the guest's own addresses (guest address
// = monitor address), so the guest's pointers need no translation and the image runs
// unchanged. Layout as abi.json, minus what lies below 64 KiB (no CPU tables here, and
// most hosts refuse mappings below vm.mmap_min_addr anyway): page 0 stays unmapped.
#pragma once

#include <cstdint>

#include "monitor/failure.h"

namespace pvm::monitor::process {

// RAM is [kRamFloor, ram_size); nothing of the guest's is below.
constexpr uint64_t kRamFloor = 64 * 1024;
// Every guest address is below this: the end of the channel window.
uint64_t GuestLimit();

// Checks that nothing of the monitor (code, heap, stacks, libraries, vdso) is mapped in
// [0, GuestLimit()), from /proc/self/maps, and names the first offender: a monitor that
// is not PIE would have its code at 4 MiB, inside guest RAM.
bool CheckMonitorOutside(Failure* why);

// Reserves [kRamFloor, GuestLimit()) (PROT_NONE, no memory charged) with
// MAP_FIXED_NOREPLACE, so the kernel never places a monitor mapping there later. Every
// mapping after this is MAP_FIXED inside our own reservation.
bool Reserve(Failure* why);

// Guest RAM at [kRamFloor, ram_size): anonymous, private (a fork(2) gives the child a
// copy-on-write copy), read/write/execute like identity-mapped RAM on kvm, the stack
// guard page inaccessible. Replaces whatever RAM was there.
bool MapRam(uint64_t ram_size, Failure* why);
// exec: moves staged RAM (ram_size bytes whose guest-physical 0 is at `staged`, as
// GuestMemory::Allocate made it) to the guest's addresses by mremap (no copy), over
// the old RAM of old_size bytes, which is dropped. Below kRamFloor stays where it was.
bool MoveRamIn(uint8_t* staged, uint64_t ram_size, uint64_t old_size, Failure* why);

// [offset, offset + length) of file fd mapped privately, read/write/execute, at gpa over
// guest RAM that holds the same bytes already (one step: a failure changes nothing).
bool MapFile(uint64_t gpa, int fd, uint64_t offset, uint64_t length);

// A shared region (a channel's memfd the monitor has mapped at `host`) also at gpa in
// the window: mremap with old size 0 makes a second mapping of the same pages.
bool MapShared(uint64_t gpa, uint8_t* host, uint64_t size, Failure* why);
// Puts the reservation back over [gpa, gpa + size).
void Unmap(uint64_t gpa, uint64_t size);
// A Linux program's zpoline sled (linux_rewrite.h): `page` read-only and executable at
// address 0 (outside guest RAM, below kRamFloor), or none (null). False where the host
// refuses address 0 (vm.mmap_min_addr without CAP_SYS_RAWIO): page 0 stays unmapped.
bool MapSled(const uint8_t* page);

}  // namespace pvm::monitor::process
