// NativeHost's hand-outs of memory shared with pVMs: channels (between two pVMs, or the
// host and one) and shared-memory regions. The monitors take them with an Attach message.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "binding/js_errno.h"
#include "binding/native_host.h"
#include "common/channel_fds.h"
#include "common/control.h"
#include "pvm/abi.h"

namespace pvm {

// The pages the monitors' backend can map into its guests (common/region_memory.h).
RegionPages NativeHost::RegionKind() const { return backend_ == "xen" ? RegionPages::Granted : RegionPages::Memfd; }

// connect(tag, a, b) -> { channel, memory }: a new channel between pVMs a and b, or
// between the host (a = 0, side A) and b. Each pVM answers with an `attached` event
// carrying the tag. memory (an ArrayBuffer) only when the host is an end.
Napi::Value NativeHost::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, "host is closed", -ESHUTDOWN);
  uint64_t tag = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  uint64_t a = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  uint64_t b = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  ChannelFds fds;
  int rc = CreateChannelFds(&fds, RegionKind());
  if (rc != 0) ThrowErrno(env, "cannot make a channel", rc);
  uint64_t channel = registry_.NextId();

  auto send = [&](uint64_t to, uint64_t peer, uint32_t side, int own, int other) {
    ctl::AttachRequest request{tag, peer, side, 0};
    // With the peer monitor's pidfd, the pVM notices should the peer crash.
    int peer_pidfd = peer != 0 ? poller_->DupPidfd(peer) : -1;
    int out[] = {fds.memfd, own, other, peer_pidfd};
    int rc = poller_->Send(to, ctl::Type::Attach, &request, sizeof request, out, peer_pidfd >= 0 ? 4 : 3);
    if (peer_pidfd >= 0) close(peer_pidfd);
    return rc;
  };
  rc = send(b, a, PVM_CHANNEL_SIDE_B, fds.doorbell_b, fds.doorbell_a);
  if (rc == 0 && a != 0) rc = send(a, b, PVM_CHANNEL_SIDE_A, fds.doorbell_a, fds.doorbell_b);
  if (rc != 0) {
    CloseChannelFds(&fds);
    ThrowErrno(env, "cannot hand out the channel", rc);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("channel", Napi::Number::New(env, static_cast<double>(channel)));
  if (a == 0) {
    // The host is side A: it waits on doorbell A and rings B.
    rc = poller_->WatchChannel(channel, fds.doorbell_a, fds.doorbell_b);
    fds.doorbell_a = fds.doorbell_b = -1;
    result.Set("memory", MapChannel(env, fds.memfd));
    fds.memfd = -1;
    if (rc != 0) ThrowErrno(env, "cannot watch the channel", rc);
  }
  CloseChannelFds(&fds);
  return result;
}

// share(tag, id, size) -> ArrayBuffer: a shared-memory region of size bytes (whole
// pages, at most a channel slot) given to pVM id; it answers with `attached`.
Napi::Value NativeHost::Share(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, "host is closed", -ESHUTDOWN);
  uint64_t tag = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  uint64_t id = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  size_t size = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  int fd = -1;
  if (int err = CreateRegionFd(RegionKind(), size, &fd); err != 0) ThrowErrno(env, "cannot make the region", err);
  ctl::AttachRequest request{tag, 0, 0, ctl::kAttachShm};
  int rc = poller_->Send(id, ctl::Type::Attach, &request, sizeof request, &fd, 1);
  if (rc != 0) {
    close(fd);
    ThrowErrno(env, "cannot hand out the region", rc);
  }
  return MapShared(env, fd, size);
}

}  // namespace pvm
