// Monitor events -> plain JS objects: the fields as addon/common/control.json defines them
// (events_gen.inc, generated with the MonitorEvent union of lib/generated/control.ts).
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "binding/native_host.h"
#include "common/control.h"
#include "common/region_memory.h"
#include "pvm/abi.h"

namespace pvm {

namespace {

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

}  // namespace

// The shared memory of a host channel as an ArrayBuffer over the mapping itself (no
// copies); unmapped when the ArrayBuffer is collected. Takes the memfd.
Napi::Value MapChannel(Napi::Env env, int memfd) { return MapShared(env, memfd, PVM_CHANNEL_SIZE); }

Napi::Value MapShared(Napi::Env env, int memfd, size_t size) {
  void* mem = MapRegionFd(memfd, size);
  close(memfd);
  if (!mem) return env.Null();
  return Napi::ArrayBuffer::New(
      env, mem, size,
      [](Napi::Env, void* data, size_t* length) {
        munmap(data, *length);
        delete length;
      },
      new size_t(size));
}

namespace {

// What the generated code cannot say: the fds and the string list of some messages.
// false: the message is malformed.
bool ExtraToJs(Napi::Env env, ctl::Message& m, const ctl::Forked& f, Napi::Object o) {
  // The poller kept only the channel memfd (host forks).
  if (f.error == 0 && f.host_channel && m.fds.size() == 1) {
    o.Set("channel", MapChannel(env, m.fds[0]));
    m.fds.clear();
  }
  return true;
}

bool ExtraToJs(Napi::Env env, ctl::Message& m, const ctl::ExecRequest& r, Napi::Object o) {
  // path, then argc strings
  std::string tail = m.tail<ctl::ExecRequest>();
  Napi::Array strings = Napi::Array::New(env);
  size_t start = 0;
  for (size_t i = 0; i < tail.size(); i++) {
    if (tail[i] != '\0') continue;
    strings.Set(strings.Length(), std::string(tail, start, i - start));
    start = i + 1;
  }
  if (start != tail.size() || strings.Length() != r.argc + 1) return false;
  o.Set("strings", strings);
  return true;
}

// MessageToJs and the enum names, from addon/common/control.json.
#include "binding/events_gen.inc"

}  // namespace

Napi::Array EventsToJs(Napi::Env env, std::vector<MonitorEvent>& events) {
  Napi::Array out = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) {
    MonitorEvent& ev = events[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::Number::New(env, static_cast<double>(ev.id)));
    switch (ev.kind) {
      case MonitorEvent::Kind::Message:
        if (!MessageToJs(env, ev.message, o)) {
          o.Set("type", "malformed");
          o.Set("messageType", Napi::Number::New(env, static_cast<uint32_t>(ev.message.type)));
        }
        break;
      case MonitorEvent::Kind::Malformed:
        o.Set("type", "malformed");
        o.Set("messageType", Napi::Number::New(env, -1));
        break;
      case MonitorEvent::Kind::Closed:
        o.Set("type", "closed");
        break;
      case MonitorEvent::Kind::Doorbell:
        o.Set("type", "doorbell");
        break;
      case MonitorEvent::Kind::Ended:
        o.Set("type", "ended");
        o.Set("statusKnown", Napi::Boolean::New(env, ev.status_known));
        o.Set("exitStatus", Napi::Number::New(env, ev.exit_status));
        o.Set("signal", Napi::Number::New(env, ev.term_signal));
        break;
    }
    // fds no message type above took.
    for (int fd : ev.message.fds) close(fd);
    out.Set(i, o);
  }
  return out;
}

}  // namespace pvm
