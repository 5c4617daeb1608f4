// Monitor events -> plain JS objects. Field names are what lib/native.ts declares.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "binding/native_host.h"
#include "common/control.h"
#include "pvm/abi.h"

namespace pvm {

namespace {

const char* ErrorCodeName(ctl::ErrorCode code) {
  switch (code) {
    case ctl::ErrorCode::BadImage: return "BadImage";
    case ctl::ErrorCode::ImageTooLarge: return "ImageTooLarge";
    case ctl::ErrorCode::NoMemory: return "NoMemory";
    case ctl::ErrorCode::KvmUnavailable: return "KvmUnavailable";
    case ctl::ErrorCode::BadConfig: return "BadConfig";
    case ctl::ErrorCode::Internal: return "Internal";
    case ctl::ErrorCode::AbiMismatch: return "AbiMismatch";
  }
  return "Internal";
}

const char* FaultKindName(ctl::FaultKind kind) {
  switch (kind) {
    case ctl::FaultKind::None: return "none";
    case ctl::FaultKind::Exception: return "exception";
    case ctl::FaultKind::TripleFault: return "triple-fault";
    case ctl::FaultKind::BadHypercall: return "bad-hypercall";
    case ctl::FaultKind::BadIo: return "bad-io";
    case ctl::FaultKind::BadMemory: return "bad-memory";
    case ctl::FaultKind::Internal: return "internal";
  }
  return "internal";
}

Napi::Value Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

}  // namespace

// The shared memory of a host channel as an ArrayBuffer over the mapping itself (no
// copies); unmapped when the ArrayBuffer is collected. Takes the memfd.
Napi::Value MapChannel(Napi::Env env, int memfd) { return MapShared(env, memfd, PVM_CHANNEL_SIZE); }

Napi::Value MapShared(Napi::Env env, int memfd, size_t size) {
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  close(memfd);
  if (mem == MAP_FAILED) return env.Null();
  return Napi::ArrayBuffer::New(
      env, mem, size,
      [](Napi::Env, void* data, size_t* length) {
        munmap(data, *length);
        delete length;
      },
      new size_t(size));
}

namespace {

void MessageToJs(Napi::Env env, ctl::Message& m, Napi::Object o) {
  switch (m.type) {
    case ctl::Type::Ready:
      if (auto* r = m.as<ctl::Ready>()) {
        o.Set("type", "ready");
        o.Set("pid", Napi::Number::New(env, static_cast<double>(r->pid)));
        o.Set("monitorStartNs", Big(env, r->monitor_start_ns));
        o.Set("vmReadyNs", Big(env, r->vm_ready_ns));
        o.Set("backend", std::string(r->backend, strnlen(r->backend, sizeof r->backend)));
        o.Set("backendFlags", Napi::Number::New(env, r->backend_flags));
        return;
      }
      break;
    case ctl::Type::Started:
      if (auto* s = m.as<ctl::Started>()) {
        o.Set("type", "started");
        o.Set("firstExitNs", Big(env, s->first_exit_ns));
        return;
      }
      break;
    case ctl::Type::Console:
      o.Set("type", "console");
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, m.body.data(), m.body.size()));
      return;
    case ctl::Type::Exit:
      if (auto* x = m.as<ctl::Exit>()) {
        o.Set("type", "exit");
        o.Set("kind", x->kind == ctl::ExitKind::Code ? "code" : x->kind == ctl::ExitKind::Killed ? "killed" : "fault");
        o.Set("code", Napi::Number::New(env, x->code));
        o.Set("fault", FaultKindName(x->fault));
        o.Set("vector", Napi::Number::New(env, x->vector == 0xffffffffu ? -1 : x->vector));
        o.Set("errorCode", Big(env, x->error_code));
        o.Set("rip", Big(env, x->rip));
        o.Set("address", Big(env, x->address));
        o.Set("exitNs", Big(env, x->exit_ns));
        o.Set("reason", std::string(x->reason, strnlen(x->reason, sizeof x->reason)));
        return;
      }
      break;
    case ctl::Type::Forked:
      if (auto* f = m.as<ctl::Forked>()) {
        o.Set("type", "forked");
        o.Set("tag", Napi::Number::New(env, static_cast<double>(f->tag)));
        o.Set("error", Napi::Number::New(env, static_cast<double>(f->error)));
        o.Set("childId", Napi::Number::New(env, static_cast<double>(f->child_id)));
        o.Set("childPid", Napi::Number::New(env, static_cast<double>(f->child_pid)));
        o.Set("pauseStartNs", Big(env, f->pause_start_ns));
        o.Set("resumeNs", Big(env, f->resume_ns));
        o.Set("channelSlot", Napi::Number::New(env, f->channel_slot));
        o.Set("viaSpare", Napi::Boolean::New(env, f->via_spare != 0));
        o.Set("fallback", Napi::Number::New(env, f->fallback));
        o.Set("copiedPages", Napi::Number::New(env, static_cast<double>(f->copied_pages)));
        // The poller kept only the channel memfd (host forks).
        if (f->error == 0 && f->host_channel && m.fds.size() == 1) {
          o.Set("channel", MapChannel(env, m.fds[0]));
          m.fds.clear();
        }
        return;
      }
      break;
    case ctl::Type::Attached:
      if (auto* a = m.as<ctl::Attached>()) {
        o.Set("type", "attached");
        o.Set("tag", Napi::Number::New(env, static_cast<double>(a->tag)));
        o.Set("error", Napi::Number::New(env, static_cast<double>(a->error)));
        o.Set("slot", Napi::Number::New(env, a->slot));
        return;
      }
      break;
    case ctl::Type::ExecRequest:
      if (auto* r = m.as<ctl::ExecRequest>()) {
        // path, then argc strings
        std::string tail = m.tail<ctl::ExecRequest>();
        Napi::Array strings = Napi::Array::New(env);
        size_t start = 0;
        for (size_t i = 0; i < tail.size(); i++) {
          if (tail[i] != '\0') continue;
          strings.Set(strings.Length(), std::string(tail, start, i - start));
          start = i + 1;
        }
        if (start != tail.size() || strings.Length() != r->argc + 1) break;
        o.Set("type", "exec-request");
        o.Set("ramSize", Napi::Number::New(env, static_cast<double>(r->ram_size)));
        o.Set("strings", strings);
        return;
      }
      break;
    case ctl::Type::Execed:
      if (auto* x = m.as<ctl::Execed>()) {
        o.Set("type", "execed");
        o.Set("tag", Napi::Number::New(env, static_cast<double>(x->tag)));
        o.Set("error", Napi::Number::New(env, static_cast<double>(x->error)));
        o.Set("code", x->error ? ErrorCodeName(static_cast<ctl::ErrorCode>(x->code)) : "");
        o.Set("startNs", Big(env, x->start_ns));
        o.Set("readyNs", Big(env, x->ready_ns));
        o.Set("message", m.tail<ctl::Execed>());
        return;
      }
      break;
    case ctl::Type::Spare:
      if (auto* sp = m.as<ctl::Spare>()) {
        o.Set("type", "spare");
        o.Set("pid", Napi::Number::New(env, static_cast<double>(sp->pid)));
        return;
      }
      break;
    case ctl::Type::Error:
      if (auto* e = m.as<ctl::Error>()) {
        o.Set("type", "error");
        o.Set("code", ErrorCodeName(e->code));
        o.Set("errno", Napi::Number::New(env, e->sys_errno));
        o.Set("message", m.tail<ctl::Error>());
        return;
      }
      break;
    default:
      break;
  }
  o.Set("type", "malformed");
  o.Set("messageType", Napi::Number::New(env, static_cast<uint32_t>(m.type)));
}

}  // namespace

Napi::Array EventsToJs(Napi::Env env, std::vector<MonitorEvent>& events) {
  Napi::Array out = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) {
    MonitorEvent& ev = events[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::Number::New(env, static_cast<double>(ev.id)));
    switch (ev.kind) {
      case MonitorEvent::Kind::Message:
        MessageToJs(env, ev.message, o);
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
