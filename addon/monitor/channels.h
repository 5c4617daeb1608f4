// The pVM's channel slots (layout and ring protocol: hypercalls/abi.json "channel").
// A channel is one region fd both ends map (a memfd; granted dom0 pages on xen:
// common/region_memory.h), plus an eventfd doorbell per end. This table
// owns this pVM's ends: maps each into the guest's channel window (a backend region),
// keeps the boot-info channel table the guest reads in step, and rings doorbells.
// The monitor never reads or writes messages: payloads go guest to guest (or to Node).
#pragma once

#include <poll.h>

#include <array>
#include <cstdint>

#include "monitor/backend.h"
#include "monitor/failure.h"
#include "monitor/guest_memory.h"
#include "pvm/abi.h"

namespace pvm::monitor {

// Both ends of a channel just made (before they are handed out).
struct NewChannel {
  int memfd = -1;
  uint8_t* mem = nullptr;  // PVM_CHANNEL_SIZE bytes, shared
  int doorbell_a = -1;     // side A waits on it
  int doorbell_b = -1;     // side B waits on it
};
// Its pages of the kind the backend maps (Backend::region_pages()).
bool CreateChannel(NewChannel* out, RegionPages kind, Failure* why);
void DestroyChannel(NewChannel* channel);

struct ChannelEnd {
  bool open = false;
  bool shm = false;      // a shared-memory region (SHM_CREATE), not a channel
  uint64_t size = PVM_CHANNEL_SIZE;
  uint64_t peer_id = 0;  // PVM_CHANNEL_PEER_HOST for the host
  uint32_t side = 0;     // PVM_CHANNEL_SIDE_A or _B
  int memfd = -1;
  uint8_t* mem = nullptr;
  int own_doorbell = -1;   // this end waits on it
  int peer_doorbell = -1;  // wakes the other end
  int peer_pidfd = -1;     // the peer pVM's monitor, when it is a pVM this one can watch
};

class ChannelTable {
 public:
  static constexpr uint32_t kSlots = PVM_CHANNEL_SLOTS;

  ChannelTable(Backend* backend, const GuestMemory* ram) : backend_(backend), ram_(ram) {}
  ~ChannelTable();
  ChannelTable(const ChannelTable&) = delete;
  ChannelTable& operator=(const ChannelTable&) = delete;

  // Lowest free slot, or -1.
  int FreeSlot() const;
  // Takes the end (its fds and mapping), maps it into the guest at `slot` and publishes
  // it in the boot-info table. On failure the end is released.
  bool Attach(uint32_t slot, ChannelEnd end, Failure* why);
  const ChannelEnd* Get(uint32_t slot) const;

  // An end whose memfd came from elsewhere (the host): maps it, then as Attach.
  bool AttachShared(uint32_t slot, ChannelEnd end, Failure* why);
  // Closes the fds of an end that was never attached.
  static void Discard(ChannelEnd* end);
  // CLOSE: this end is done (the other end sees end-of-stream) or the region goes.
  // false if the slot is not open.
  bool Close(uint32_t slot);
  // A new shared-memory region of size bytes (page-rounded) at `slot`.
  bool AttachShm(uint32_t slot, uint64_t size, Failure* why);
  // A shared-memory region the host made (its memfd, which this takes) at `slot`.
  bool AttachShmFd(uint32_t slot, int memfd, Failure* why);

  // Rings the other end's doorbell. false if the slot is not an open channel.
  bool Notify(uint32_t slot);
  // For WAIT: a pollfd per slot (own doorbell); false if one is not open.
  bool Doorbells(const uint32_t* slots, uint32_t count, pollfd* out) const;

  // The peer's monitor is gone without closing its end (it crashed): close it for it.
  void PeerGone(uint32_t slot);
  // The guest has ended: mark every end closed and wake the peers.
  void CloseAll();
  // In a forked child: forget every channel without touching the shared rings (they
  // are still the parent's) and unmap them. Shared-memory regions stay: children
  // inherit them.
  void DropChannels();
  // Rewrites the whole boot-info table from the slots (after a fork in the child).
  void Publish();

  // The backend region index of a slot (0 is RAM).
  static uint32_t Region(uint32_t slot) { return slot + 1; }
  static uint64_t Gpa(uint32_t slot) { return PVM_CHANNEL_WINDOW_GPA + slot * PVM_CHANNEL_SLOT_SIZE; }

 private:
  // Unmaps (if mapped at mapped_slot, else -1), closes and clears an end.
  void Release(ChannelEnd* end, int mapped_slot);
  void PublishSlot(uint32_t slot);

  Backend* backend_;
  const GuestMemory* ram_;
  std::array<ChannelEnd, kSlots> slots_{};
};

}  // namespace pvm::monitor
