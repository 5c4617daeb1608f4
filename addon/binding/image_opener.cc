#include "binding/image_opener.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>

namespace pvm {
namespace {

struct Opened {
  int error = 0;  // errno, 0 on success
  int fd = -1;
  bool regular = false;
};

Opened OpenAndCheck(const std::string& path, unsigned delay_ms) {
  // PVM_TEST_OPEN_DELAY_MS: tests play a slow filesystem with it (test/image-open.test.ts).
  if (delay_ms) usleep(delay_ms * 1000u);
  Opened r;
  r.fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (r.fd < 0) {
    r.error = errno;
    return r;
  }
  struct stat st {};
  if (fstat(r.fd, &st) != 0) {
    r.error = errno;
    close(r.fd);
    r.fd = -1;
    return r;
  }
  r.regular = S_ISREG(st.st_mode);
  return r;
}

}  // namespace

Napi::Value OpenImage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "openImage(path, callback)");
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  const char* delay = getenv("PVM_TEST_OPEN_DELAY_MS");  // read here: setenv runs on this thread
  unsigned delay_ms = delay ? static_cast<unsigned>(strtoul(delay, nullptr, 10)) : 0;
  // Unreferenced: a pending open does not keep Node alive by itself (the caller's timer does).
  auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "pvm.openImage", 0, 1);
  tsfn.Unref(env);
  std::thread([tsfn, path, delay_ms]() mutable {
    auto* result = new Opened(OpenAndCheck(path, delay_ms));
    napi_status s = tsfn.BlockingCall(result, [](Napi::Env env, Napi::Function callback, Opened* r) {
      Opened copy = *r;
      delete r;
      callback.Call({Napi::Number::New(env, copy.error), Napi::Number::New(env, copy.fd),
                     Napi::Boolean::New(env, copy.regular)});
    });
    if (s != napi_ok) {  // Node is going away: nobody will take the fd
      if (result->fd >= 0) close(result->fd);
      delete result;
    }
    tsfn.Release();
  }).detach();
  return env.Undefined();
}

}  // namespace pvm
