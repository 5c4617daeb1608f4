#include "monitor/channels.h"

#include "common/channel_fds.h"
#include "common/region_memory.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace pvm::monitor {

namespace {

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

volatile uint32_t* Counter(uint8_t* mem, uint32_t ring, uint32_t offset) {
  return reinterpret_cast<volatile uint32_t*>(mem + ring * PVM_CHANNEL_CONTROL_STRIDE + offset);
}

}  // namespace

bool CreateChannel(NewChannel* out, RegionPages kind, Failure* why) {
  *out = NewChannel{};
  ChannelFds fds;
  int rc = CreateChannelFds(&fds, kind);
  if (rc != 0) return Fail(why, ctl::ErrorCode::NoMemory, -rc, "cannot make a channel: %s", strerror(-rc));
  out->memfd = fds.memfd;
  out->doorbell_a = fds.doorbell_a;
  out->doorbell_b = fds.doorbell_b;
  out->mem = MapRegionFd(out->memfd, PVM_CHANNEL_SIZE);
  if (!out->mem) {
    FailErrno(why, ctl::ErrorCode::NoMemory, "mmap channel");
    DestroyChannel(out);
    return false;
  }
  return true;
}

void DestroyChannel(NewChannel* c) {
  if (c->mem) munmap(c->mem, PVM_CHANNEL_SIZE);
  c->mem = nullptr;
  CloseFd(&c->memfd);
  CloseFd(&c->doorbell_a);
  CloseFd(&c->doorbell_b);
}

ChannelTable::~ChannelTable() {
  for (uint32_t s = 0; s < kSlots; s++) Release(&slots_[s], s);
}

int ChannelTable::FreeSlot() const {
  for (uint32_t s = 0; s < kSlots; s++) {
    if (!slots_[s].open) return static_cast<int>(s);
  }
  return -1;
}

bool ChannelTable::Attach(uint32_t slot, ChannelEnd end, Failure* why) {
  if (slot >= kSlots || slots_[slot].open) {
    Release(&end, -1);
    return Fail(why, ctl::ErrorCode::Internal, 0, "channel slot %u is taken", slot);
  }
  if (!backend_->MapRegionOf(Region(slot), Gpa(slot), end.mem, end.size, end.memfd, why)) {
    Release(&end, -1);
    return false;
  }
  end.open = true;
  slots_[slot] = end;
  PublishSlot(slot);
  return true;
}

const ChannelEnd* ChannelTable::Get(uint32_t slot) const {
  return slot < kSlots && slots_[slot].open ? &slots_[slot] : nullptr;
}

bool ChannelTable::AttachShm(uint32_t slot, uint64_t size, Failure* why) {
  uint64_t bytes = (size + PVM_PAGE_SIZE - 1) & ~(PVM_PAGE_SIZE - 1);
  int fd = -1;
  int rc = CreateRegionFd(backend_->region_pages(), bytes, &fd);
  if (rc != 0) return Fail(why, ctl::ErrorCode::NoMemory, -rc, "cannot make a region: %s", strerror(-rc));
  return AttachShmFd(slot, fd, why);
}

bool ChannelTable::AttachShmFd(uint32_t slot, int memfd, Failure* why) {
  ChannelEnd end;
  end.shm = true;
  end.memfd = memfd;
  uint64_t size = 0;
  if (RegionFdSize(memfd, &size) != 0 || size > PVM_CHANNEL_SLOT_SIZE) {
    Release(&end, -1);
    return Fail(why, ctl::ErrorCode::Internal, EINVAL, "not a sealed region of whole pages up to a slot");
  }
  end.size = size;
  end.mem = MapRegionFd(end.memfd, end.size);
  if (!end.mem) {
    FailErrno(why, ctl::ErrorCode::NoMemory, "mmap shm");
    Release(&end, -1);
    return false;
  }
  return Attach(slot, end, why);
}

bool ChannelTable::AttachShared(uint32_t slot, ChannelEnd end, Failure* why) {
  uint64_t size = 0;
  if (RegionFdSize(end.memfd, &size) != 0 || size != PVM_CHANNEL_SIZE) {
    Release(&end, -1);
    return Fail(why, ctl::ErrorCode::Internal, EINVAL, "a channel memfd of the wrong size, or not sealed");
  }
  end.mem = MapRegionFd(end.memfd, PVM_CHANNEL_SIZE);
  if (!end.mem) {
    FailErrno(why, ctl::ErrorCode::NoMemory, "mmap channel");
    Release(&end, -1);
    return false;
  }
  end.size = PVM_CHANNEL_SIZE;
  return Attach(slot, end, why);
}

void ChannelTable::Discard(ChannelEnd* end) {
  CloseFd(&end->memfd);
  CloseFd(&end->own_doorbell);
  CloseFd(&end->peer_doorbell);
  CloseFd(&end->peer_pidfd);
}

bool ChannelTable::Close(uint32_t slot) {
  if (slot >= kSlots || !slots_[slot].open) return false;
  ChannelEnd& end = slots_[slot];
  if (!end.shm) {
    uint32_t send_ring = end.side == PVM_CHANNEL_SIDE_A ? 0 : 1;
    __atomic_store_n(Counter(end.mem, send_ring, PVM_CHANNEL_PRODUCER_CLOSED), 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(Counter(end.mem, 1 - send_ring, PVM_CHANNEL_CONSUMER_CLOSED), 1, __ATOMIC_SEQ_CST);
    Notify(slot);
  }
  Release(&end, static_cast<int>(slot));
  PublishSlot(slot);
  return true;
}

void ChannelTable::PeerGone(uint32_t slot) {
  ChannelEnd* end = slot < kSlots && slots_[slot].open && !slots_[slot].shm ? &slots_[slot] : nullptr;
  if (!end) return;
  uint32_t peer_send_ring = end->side == PVM_CHANNEL_SIDE_A ? 1 : 0;
  __atomic_store_n(Counter(end->mem, peer_send_ring, PVM_CHANNEL_PRODUCER_CLOSED), 1, __ATOMIC_SEQ_CST);
  __atomic_store_n(Counter(end->mem, 1 - peer_send_ring, PVM_CHANNEL_CONSUMER_CLOSED), 1, __ATOMIC_SEQ_CST);
  if (end->peer_pidfd >= 0) close(end->peer_pidfd);
  end->peer_pidfd = -1;
}

bool ChannelTable::Notify(uint32_t slot) {
  const ChannelEnd* end = Get(slot);
  if (!end || end->shm) return false;
  uint64_t one = 1;
  // EAGAIN only when the counter is near overflow: the peer has a wake-up pending anyway.
  (void)!write(end->peer_doorbell, &one, sizeof one);
  return true;
}

bool ChannelTable::Doorbells(const uint32_t* slots, uint32_t count, pollfd* out) const {
  for (uint32_t i = 0; i < count; i++) {
    const ChannelEnd* end = Get(slots[i]);
    if (!end || end->shm) return false;
    out[i] = pollfd{end->own_doorbell, POLLIN, 0};
  }
  return true;
}

void ChannelTable::CloseAll() {
  for (uint32_t s = 0; s < kSlots; s++) Close(s);
}

void ChannelTable::DropChannels() {
  for (uint32_t s = 0; s < kSlots; s++) {
    if (slots_[s].open && !slots_[s].shm) Release(&slots_[s], s);
  }
}

void ChannelTable::Publish() {
  for (uint32_t s = 0; s < kSlots; s++) PublishSlot(s);
}

void ChannelTable::Release(ChannelEnd* end, int mapped_slot) {
  if (end->open && mapped_slot >= 0) backend_->UnmapRegion(Region(mapped_slot));
  if (end->mem) munmap(end->mem, end->size);
  CloseFd(&end->memfd);
  CloseFd(&end->own_doorbell);
  CloseFd(&end->peer_doorbell);
  CloseFd(&end->peer_pidfd);
  *end = ChannelEnd{};
}

void ChannelTable::PublishSlot(uint32_t slot) {
  pvm_channel_entry entry{};
  const ChannelEnd& end = slots_[slot];
  if (end.open) {
    entry.peer_id = end.shm ? 0 : end.peer_id;
    entry.state = end.shm ? PVM_CHANNEL_STATE_SHM : PVM_CHANNEL_STATE_OPEN;
    entry.side = end.side;
  }
  uint8_t* at = ram_->At(PVM_CHANNEL_TABLE_GPA + slot * sizeof entry, sizeof entry);
  if (at) std::memcpy(at, &entry, sizeof entry);
}

}  // namespace pvm::monitor
