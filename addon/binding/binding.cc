// The addon's module: NativeHost, probeBackend(), openImage() and readRegistry().
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <napi.h>

#include "binding/activity.h"
#include "binding/image_opener.h"
#include "binding/native_host.h"
#include "common/backend_probe.h"
#include "common/registry.h"
#include "monitor/backends/probes.h"

namespace {

// probeBackend(name) -> { ok, errno, message?, info? }: can this process run pVMs on it?
Napi::Value ProbeBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  Napi::Object out = Napi::Object::New(env);
  // Host.open asks them in lib/backends.ts's order; one not built is "not built into this pvm".
  auto probe = pvm::FindBackendProbe(name.c_str());
  if (!probe) {
    out.Set("ok", false);
    out.Set("errno", 0);
    out.Set("message", "not built into this pvm");
    return out;
  }
  pvm::BackendProbe p = probe();
  out.Set("ok", p.ok);
  out.Set("errno", p.err);
  if (!p.message.empty()) out.Set("message", p.message);
  if (p.ok) {
    Napi::Object facts = Napi::Object::New(env);
    for (const auto& [key, value] : p.strings) facts.Set(key, value);
    for (const auto& [key, value] : p.numbers) facts.Set(key, Napi::Number::New(env, static_cast<double>(value)));
    out.Set("info", facts);
  }
  return out;
}

// readRegistry(path) -> { live, limit, pvms: [{ id, parentId, pid, activity }] }: the running pVMs
// of a host's registry, opened by path (pvm ps: /proc/<host>/fd/<n>). Throws with the
// errno on failure.
Napi::Value ReadRegistry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  pvm::RegistryView view;
  int rc = fd < 0 ? -errno : pvm::ReadRegistry(fd, &view);
  if (fd >= 0) close(fd);
  if (rc != 0) {
    Napi::Error e = Napi::Error::New(env, path + ": " + strerror(-rc));
    e.Set("errno", Napi::Number::New(env, -rc));
    throw e;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("live", Napi::Number::New(env, static_cast<double>(view.live)));
  out.Set("limit", Napi::Number::New(env, static_cast<double>(view.limit)));
  Napi::Array pvms = Napi::Array::New(env, view.running.size());
  for (size_t i = 0; i < view.running.size(); i++) {
    const pvm::RegistryEntry& r = view.running[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::Number::New(env, static_cast<double>(r.id)));
    o.Set("parentId", Napi::Number::New(env, static_cast<double>(r.parent_id)));
    o.Set("pid", Napi::Number::New(env, r.pid));
    o.Set("activity", pvm::ActivityObject(env, r));
    pvms.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("pvms", pvms);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeHost", pvm::NativeHost::Define(env));
  exports.Set("probeBackend", Napi::Function::New(env, ProbeBackend));
  exports.Set("openImage", Napi::Function::New(env, pvm::OpenImage));
  exports.Set("readRegistry", Napi::Function::New(env, ReadRegistry));
  return exports;
}

}  // namespace

NODE_API_MODULE(pvm, Init)
