// NativeHost: the addon's one class. Starts monitors, sends them control messages,
// signals them, and forwards what they report to a JavaScript callback.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "binding/monitor_process.h"
#include "binding/poller.h"
#include "common/region_memory.h"
#include "common/registry.h"

namespace pvm {

class NativeHost : public Napi::ObjectWrap<NativeHost> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit NativeHost(const Napi::CallbackInfo& info);
  ~NativeHost() override;

 private:
  Napi::Value Spawn(const Napi::CallbackInfo& info);
  Napi::Value Signal(const Napi::CallbackInfo& info);
  Napi::Value AllocateId(const Napi::CallbackInfo& info);
  Napi::Value LivePvms(const Napi::CallbackInfo& info);
  Napi::Value Activity(const Napi::CallbackInfo& info);
  Napi::Value Fork(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value Stdin(const Napi::CallbackInfo& info);
  int SendInput(uint64_t id, const uint8_t* data, size_t size, bool end);
  Napi::Value ChannelNotify(const Napi::CallbackInfo& info);
  Napi::Value PauseControl(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value Share(const Napi::CallbackInfo& info);
  // What channel and region pages are made of for backend_'s monitors.
  RegionPages RegionKind() const;
  Napi::Value Exec(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Prestart(const Napi::CallbackInfo& info);
  Napi::Value PoolPids(const Napi::CallbackInfo& info);
  // A pooled monitor still alive, or pid -1 if the pool is empty.
  MonitorProcess TakePooled();
  Napi::Value ExecImage(const Napi::CallbackInfo& info);
  void ChannelClose(const Napi::CallbackInfo& info);
  void Ref(const Napi::CallbackInfo& info);
  void Unref(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  void Shutdown();
  static void CleanupHook(void* self);

  std::string monitor_path_;
  std::string backend_;  // --backend=NAME of every monitor it starts
  Napi::ThreadSafeFunction tsfn_;
  std::unique_ptr<Poller> poller_;
  Registry registry_;
  std::vector<MonitorProcess> pool_;  // started ahead, VM built, waiting for Boot
  bool closed_ = false;
};

// Maps a channel's pages (its region fd) as an ArrayBuffer (takes the fd); null if mmap fails.
Napi::Value MapChannel(Napi::Env env, int memfd);
// Maps size bytes of a region fd's pages as an ArrayBuffer (takes the fd); null if mmap fails.
Napi::Value MapShared(Napi::Env env, int memfd, size_t size);

// Converts a batch of monitor events into JS objects (on the JS thread).
Napi::Array EventsToJs(Napi::Env env, std::vector<MonitorEvent>& events);

}  // namespace pvm
