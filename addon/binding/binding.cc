// The addon's module: NativeHost and probeKvm().
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <napi.h>

#include "binding/activity.h"
#include "binding/native_host.h"
#include "common/registry.h"

namespace {

// probeKvm() -> { ok, apiVersion, errno, message }: can this process use /dev/kvm?
Napi::Value ProbeKvm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    out.Set("ok", false);
    out.Set("errno", err);
    out.Set("message", std::string("cannot open /dev/kvm: ") + strerror(err));
    return out;
  }
  int version = ioctl(fd, KVM_GET_API_VERSION, 0);
  close(fd);
  out.Set("apiVersion", version);
  out.Set("ok", version == KVM_API_VERSION);
  out.Set("errno", 0);
  if (version != KVM_API_VERSION) {
    out.Set("message", "/dev/kvm API version " + std::to_string(version) + ", need " +
                           std::to_string(KVM_API_VERSION));
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
  exports.Set("probeKvm", Napi::Function::New(env, ProbeKvm));
  exports.Set("readRegistry", Napi::Function::New(env, ReadRegistry));
  return exports;
}

}  // namespace

NODE_API_MODULE(pvm, Init)
