// The addon's module: NativeHost and probeKvm().
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <napi.h>

#include "binding/native_host.h"

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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeHost", pvm::NativeHost::Define(env));
  exports.Set("probeKvm", Napi::Function::New(env, ProbeKvm));
  return exports;
}

}  // namespace

NODE_API_MODULE(pvm, Init)
