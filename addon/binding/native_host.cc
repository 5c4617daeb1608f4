#include "binding/native_host.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "binding/activity.h"
#include "binding/js_errno.h"
#include "binding/monitor_process.h"
#include "common/channel_fds.h"
#include "common/control.h"
#include "pvm/abi.h"

namespace pvm {

namespace {

// Closes the fds that arrived with events nobody will see.
void DropEvents(std::vector<MonitorEvent>* events) {
  for (auto& ev : *events) {
    for (int fd : ev.message.fds) close(fd);
    ev.message.fds.clear();
  }
}

}  // namespace

Napi::Function NativeHost::Define(Napi::Env env) {
  return DefineClass(env, "NativeHost",
                     {
                         InstanceMethod<&NativeHost::Spawn>("spawn"),
                         InstanceMethod<&NativeHost::Signal>("signal"),
                         InstanceMethod<&NativeHost::AllocateId>("allocateId"),
                         InstanceMethod<&NativeHost::LivePvms>("livePvms"),
                         InstanceMethod<&NativeHost::Activity>("activity"),
                         InstanceMethod<&NativeHost::Fork>("fork"),
                         InstanceMethod<&NativeHost::Reset>("reset"),
                         InstanceMethod<&NativeHost::Stdin>("stdin"),
                         InstanceMethod<&NativeHost::ChannelNotify>("channelNotify"),
                         InstanceMethod<&NativeHost::PauseControl>("pauseControl"),
                         InstanceMethod<&NativeHost::Connect>("connect"),
                         InstanceMethod<&NativeHost::Share>("share"),
                         InstanceMethod<&NativeHost::Exec>("exec"),
                         InstanceMethod<&NativeHost::Snapshot>("snapshot"),
                         InstanceMethod<&NativeHost::Prestart>("prestart"),
                         InstanceMethod<&NativeHost::PoolPids>("poolPids"),
                         InstanceMethod<&NativeHost::ExecImage>("execImage"),
                         InstanceMethod<&NativeHost::ChannelClose>("channelClose"),
                         InstanceMethod<&NativeHost::Ref>("ref"),
                         InstanceMethod<&NativeHost::Unref>("unref"),
                         InstanceMethod<&NativeHost::Close>("close"),
                     });
}

// new NativeHost(monitorPath: string, onEvents: (events: object[]) => void, maxPvms?: number,
//                backend?: string): every monitor it starts (the pool's too) runs that backend.
NativeHost::NativeHost(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeHost>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "NativeHost(monitorPath, onEvents)");
  }
  monitor_path_ = info[0].As<Napi::String>();
  backend_ = info.Length() > 3 && info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "kvm";
  tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "pvm-monitor-events",
                                        0, 1);
  tsfn_.Unref(env);  // the JS side refs while pVMs are alive
  uint64_t max_live = info.Length() > 2 && info[2].IsNumber()
                          ? static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value())
                          : 1024;
  int error = registry_.Create(max_live);
  if (error != 0) {
    tsfn_.Release();
    ThrowErrno(env, "cannot create the pVM registry", error);
  }
  Napi::ThreadSafeFunction tsfn = tsfn_;
  Poller* poller = Poller::Create(
      [tsfn, this](std::vector<MonitorEvent>&& batch) mutable {
        // A monitor that ended without reporting (killed, crashed) is over for the
        // other monitors too: they look in the registry to signal and wait.
        for (const MonitorEvent& ev : batch) {
          if (ev.kind == MonitorEvent::Kind::Ended) registry_.MarkEnded(ev.id, PVM_WAIT_KILLED, PVM_SIGKILL);
        }
        auto* data = new std::vector<MonitorEvent>(std::move(batch));
        napi_status st = tsfn.NonBlockingCall(
            data, [](Napi::Env env, Napi::Function callback, std::vector<MonitorEvent>* events) {
              std::unique_ptr<std::vector<MonitorEvent>> owned(events);
              if (!env || !callback) {
                DropEvents(owned.get());
                return;
              }
              try {
                callback.Call({EventsToJs(env, *owned)});
              } catch (const Napi::Error& e) {
                // A JS handler threw: leave it pending, so Node reports it as uncaught
                // (an exception out of this C++ callback would abort the process).
                e.ThrowAsJavaScriptException();
              }
            });
        if (st != napi_ok) {  // host closing: nobody to tell, but fds that came along go
          DropEvents(data);
          delete data;
        }
      },
      &error);
  if (!poller) {
    tsfn_.Release();
    ThrowErrno(env, "cannot start the monitor watcher", error);
  }
  poller_.reset(poller);
  napi_add_env_cleanup_hook(env, CleanupHook, this);
}

NativeHost::~NativeHost() {
  napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
  Shutdown();
}

void NativeHost::CleanupHook(void* self) { static_cast<NativeHost*>(self)->Shutdown(); }

void NativeHost::Shutdown() {
  if (closed_) return;
  closed_ = true;
  for (MonitorProcess& p : pool_) {
    kill(p.pid, SIGKILL);
    siginfo_t si;
    waitid(P_PID, static_cast<id_t>(p.pid), &si, WEXITED);
    close(p.control);
    close(p.pidfd);
  }
  pool_.clear();
  poller_->Shutdown();
  registry_.Close();
  tsfn_.Release();
}

namespace {

// The bytes in a memfd the monitor reads (it gets its own copy of the fd), or -errno.
int FilesMemfd(const uint8_t* data, size_t size) {
  int fd = memfd_create("pvm-files", MFD_CLOEXEC);
  if (fd < 0) return -errno;
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      return -e;
    }
    done += static_cast<size_t>(n);
  }
  return fd;
}

}  // namespace

// spawn(id: number, boot: { parentId, ramSize, spawnNs: bigint, imageFd, args: string[], files?: Buffer })
//   -> pid. The image fd stays the caller's to close.
Napi::Value NativeHost::Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, "host is closed", -ESHUTDOWN);
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "spawn(id, boot)");
  }
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  Napi::Object boot = info[1].As<Napi::Object>();
  Napi::Array args = boot.Get("args").As<Napi::Array>();
  int image_fd = boot.Get("imageFd").As<Napi::Number>().Int32Value();

  ctl::Boot fixed{};
  fixed.id = id;
  fixed.parent_id = static_cast<uint64_t>(boot.Get("parentId").As<Napi::Number>().Int64Value());
  fixed.ram_size = static_cast<uint64_t>(boot.Get("ramSize").As<Napi::Number>().Int64Value());
  bool lossless = false;
  fixed.spawn_ns = boot.Get("spawnNs").As<Napi::BigInt>().Uint64Value(&lossless);
  fixed.argc = args.Length();
  std::vector<uint8_t> body(sizeof fixed);
  std::memcpy(body.data(), &fixed, sizeof fixed);
  for (uint32_t i = 0; i < args.Length(); i++) {
    std::string s = args.Get(i).As<Napi::String>();
    body.insert(body.end(), s.begin(), s.end());
    body.push_back(0);
  }
  // The environment ("K=v" strings, checked by the library) after the arguments.
  if (boot.Has("env") && boot.Get("env").IsArray()) {
    Napi::Array vars = boot.Get("env").As<Napi::Array>();
    fixed.flags |= ctl::kBootEnv;
    fixed.envc = vars.Length();
    for (uint32_t i = 0; i < vars.Length(); i++) {
      std::string s = vars.Get(i).As<Napi::String>();
      body.insert(body.end(), s.begin(), s.end());
      body.push_back(0);
    }
  }
  if (body.size() + sizeof(ctl::Header) > ctl::kMaxMessage) {
    ThrowErrno(env, "arguments too long", -E2BIG);
  }

  bool use_pool = !boot.Has("pool") || boot.Get("pool").ToBoolean();
  if (boot.Has("forkSpares") && boot.Get("forkSpares").ToBoolean()) fixed.flags |= ctl::kBootForkSpares;
  if (boot.Has("uniqueClones") && !boot.Get("uniqueClones").ToBoolean()) fixed.flags |= ctl::kBootSameClones;
  if (boot.Has("snapshot") && boot.Get("snapshot").ToBoolean()) fixed.flags |= ctl::kBootSnapshot;
  // Standard input: a Buffer is all of it (sent right after Boot); true, the host writes
  // it later (stdin()).
  Napi::Value input = boot.Has("stdin") ? boot.Get("stdin") : env.Undefined();
  bool whole_input = input.IsBuffer();
  if (whole_input) fixed.flags |= ctl::kBootStdin | ctl::kBootStdinWhole;
  if (input.IsBoolean() && input.ToBoolean()) fixed.flags |= ctl::kBootStdin;
  MonitorProcess proc = use_pool ? TakePooled() : MonitorProcess{};
  int rc = 0;
  if (proc.pid > 0) {
    fixed.flags |= ctl::kBootPooled;
  } else if ((rc = StartMonitor(monitor_path_, backend_, &proc)) != 0) {
    ThrowErrno(env, "cannot start the monitor", rc);
  }
  std::memcpy(body.data(), &fixed, sizeof fixed);
  rc = poller_->Add(id, proc.pid, proc.control, proc.pidfd, /*own_child=*/true);
  if (rc != 0) {
    kill(proc.pid, SIGKILL);  // Add closed the fds; the pid is ours until we reap it
    siginfo_t si;
    waitid(P_PID, proc.pid, &si, WEXITED);
    ThrowErrno(env, "cannot watch the monitor", rc);
  }
  // The files (a Linux program's filesystem, lib/files.ts packs it): a sealed memfd.
  int files_fd = -1;
  if (boot.Has("files") && boot.Get("files").IsBuffer()) {
    Napi::Buffer<uint8_t> files = boot.Get("files").As<Napi::Buffer<uint8_t>>();
    files_fd = FilesMemfd(files.Data(), files.Length());
    if (files_fd < 0) {
      poller_->Signal(id, SIGKILL);
      ThrowErrno(env, "cannot hand the files over", files_fd);
    }
    fixed.flags |= ctl::kBootFiles;
    std::memcpy(body.data(), &fixed, sizeof fixed);
  }
  int fds[] = {image_fd, registry_.fd(), files_fd};
  rc = poller_->Send(id, ctl::Type::Boot, body.data(), body.size(), fds, files_fd >= 0 ? 3 : 2);
  if (files_fd >= 0) close(files_fd);
  if (rc != 0) {
    // The monitor has died already; its end is reported as an event. Say why here too.
    poller_->Signal(id, SIGKILL);
    ThrowErrno(env, "cannot send the boot message", rc);
  }
  if (whole_input) {
    Napi::Buffer<uint8_t> bytes = input.As<Napi::Buffer<uint8_t>>();
    rc = SendInput(id, bytes.Data(), bytes.Length(), /*end=*/true);
    if (rc != 0) {
      poller_->Signal(id, SIGKILL);
      ThrowErrno(env, "cannot send the standard input", rc);
    }
  }
  return Napi::Number::New(env, proc.pid);
}

// Standard input for pVM id: `size` bytes in Stdin messages that fit, the last with
// kStdinEnd if `end`.
int NativeHost::SendInput(uint64_t id, const uint8_t* data, size_t size, bool end) {
  constexpr size_t kChunk = ctl::kMaxMessage - sizeof(ctl::Header) - sizeof(ctl::StdinData);
  do {
    size_t n = size < kChunk ? size : kChunk;
    ctl::StdinData fixed{};
    fixed.flags = end && n == size ? ctl::kStdinEnd : 0;
    std::vector<uint8_t> body(sizeof fixed + n);
    std::memcpy(body.data(), &fixed, sizeof fixed);
    if (n) std::memcpy(body.data() + sizeof fixed, data, n);
    int rc = poller_->Send(id, ctl::Type::Stdin, body.data(), body.size(), nullptr, 0);
    if (rc != 0) return rc;
    data += n;
    size -= n;
  } while (size > 0);
  return 0;
}

// stdin(id, data: Buffer | null) -> true if sent, false if the monitor is gone. null: the
// end of input.
Napi::Value NativeHost::Stdin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return Napi::Boolean::New(env, false);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  int rc = 0;
  if (info[1].IsBuffer()) {
    Napi::Buffer<uint8_t> bytes = info[1].As<Napi::Buffer<uint8_t>>();
    if (bytes.Length() == 0) return Napi::Boolean::New(env, true);
    rc = SendInput(id, bytes.Data(), bytes.Length(), /*end=*/false);
  } else {
    rc = SendInput(id, nullptr, 0, /*end=*/true);
  }
  if (rc == -ESRCH || rc == -EPIPE || rc == -ECONNRESET) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, "cannot send standard input", rc);
  return Napi::Boolean::New(env, true);
}

// signal(id, signo) -> true if delivered, false if the monitor is gone.
// signal(id, 0, pvmSignal): a pVM signal for the guest (ctl::kPvmSignalAfterRtMin).
Napi::Value NativeHost::Signal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return Napi::Boolean::New(env, false);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  int sig = info[1].As<Napi::Number>().Int32Value();
  bool has_value = info.Length() > 2 && info[2].IsNumber();
  int value = has_value ? info[2].As<Napi::Number>().Int32Value() : 0;
  if (has_value) sig = SIGRTMIN + ctl::kPvmSignalAfterRtMin;
  int rc = poller_->Signal(id, sig, has_value, value);
  if (rc == -ESRCH) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, "cannot signal the monitor", rc);
  return Napi::Boolean::New(env, true);
}

// livePvms() -> pVMs running now, host-wide (the registry's count).
Napi::Value NativeHost::LivePvms(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(registry_.Live()));
}

// activity(id) -> what pVM id is doing now (binding/activity.h), or null once it is not
// running.
Napi::Value NativeHost::Activity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  const RegistryEntry* e = closed_ ? nullptr : registry_.Find(id);
  if (!e || __atomic_load_n(&e->state, __ATOMIC_ACQUIRE) != kRegistryRunning) return env.Null();
  RegistryEntry copy = *e;
  copy.activity = __atomic_load_n(&e->activity, __ATOMIC_ACQUIRE);
  return ActivityObject(env, copy);
}

// allocateId() -> a new pVM id from the counter the monitors share.
Napi::Value NativeHost::AllocateId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(registry_.NextId()));
}

// fork(id, tag) -> true if the request was sent, false if the monitor is gone.
// The answer comes as a `forked` event with the same tag.
Napi::Value NativeHost::Fork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, "host is closed", -ESHUTDOWN);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  ctl::ForkRequest request{static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value())};
  int rc = poller_->Send(id, ctl::Type::Fork, &request, sizeof request, nullptr, 0);
  if (rc == -ESRCH || rc == -EPIPE || rc == -ECONNRESET) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, "cannot send the fork request", rc);
  return Napi::Boolean::New(env, true);
}

// reset(id, tag) -> true if the request was sent, false if the monitor is gone.
// The answer comes as a `reset` event with the same tag.
Napi::Value NativeHost::Reset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, "host is closed", -ESHUTDOWN);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  ctl::ResetRequest request{static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value())};
  int rc = poller_->Send(id, ctl::Type::Reset, &request, sizeof request, nullptr, 0);
  if (rc == -ESRCH || rc == -EPIPE || rc == -ECONNRESET) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, "cannot send the reset request", rc);
  return Napi::Boolean::New(env, true);
}

// exec(id, tag, { ramSize, imageFd, args }) -> false if the monitor is gone. The image
// fd stays the caller's. Answered by an `execed` event with the tag.
Napi::Value NativeHost::Exec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, "host is closed", -ESHUTDOWN);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  Napi::Object o = info[2].As<Napi::Object>();
  Napi::Array args = o.Get("args").As<Napi::Array>();
  ctl::Exec fixed{};
  fixed.tag = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  fixed.ram_size = static_cast<uint64_t>(o.Get("ramSize").As<Napi::Number>().Int64Value());
  fixed.argc = args.Length();
  std::vector<uint8_t> body(sizeof fixed);
  std::memcpy(body.data(), &fixed, sizeof fixed);
  for (uint32_t i = 0; i < args.Length(); i++) {
    std::string a = args.Get(i).As<Napi::String>();
    body.insert(body.end(), a.begin(), a.end());
    body.push_back(0);
  }
  if (body.size() + sizeof(ctl::Header) > ctl::kMaxMessage) ThrowErrno(env, "arguments too long", -E2BIG);
  int fd = o.Get("imageFd").As<Napi::Number>().Int32Value();
  int rc = poller_->Send(id, ctl::Type::Exec, body.data(), body.size(), &fd, 1);
  if (rc == -ESRCH || rc == -EPIPE || rc == -ECONNRESET) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, "cannot send the exec request", rc);
  return Napi::Boolean::New(env, true);
}

// snapshot(id, tag, fd, image) -> false if the monitor is gone. The fd (the file to write)
// stays the caller's. Answered by a `snapshotted` event with the tag.
Napi::Value NativeHost::Snapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) ThrowErrno(env, "host is closed", -ESHUTDOWN);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  ctl::SnapshotRequest fixed{static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value())};
  int fd = info[2].As<Napi::Number>().Int32Value();
  std::string image = info[3].As<Napi::String>();
  if (image.size() > 1000) image.resize(1000);  // the header keeps 1 KiB of it
  std::vector<uint8_t> body(sizeof fixed);
  std::memcpy(body.data(), &fixed, sizeof fixed);
  body.insert(body.end(), image.begin(), image.end());
  int rc = poller_->Send(id, ctl::Type::Snapshot, body.data(), body.size(), &fd, 1);
  if (rc == -ESRCH || rc == -EPIPE || rc == -ECONNRESET) return Napi::Boolean::New(env, false);
  if (rc != 0) ThrowErrno(env, "cannot send the snapshot request", rc);
  return Napi::Boolean::New(env, true);
}

// execImage(id, fdOrNegativeErrno): the answer to a guest's exec request.
Napi::Value NativeHost::ExecImage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return Napi::Boolean::New(env, false);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  int fd = info[1].As<Napi::Number>().Int32Value();
  ctl::ExecImage answer{fd < 0 ? fd : 0};
  int rc = poller_->Send(id, ctl::Type::ExecImage, &answer, sizeof answer, fd >= 0 ? &fd : nullptr, fd >= 0 ? 1 : 0);
  return Napi::Boolean::New(env, rc == 0);
}

// channelNotify(channel) -> false if the channel is not known (closed).
Napi::Value NativeHost::ChannelNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return Napi::Boolean::New(env, false);
  uint64_t channel = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  return Napi::Boolean::New(env, poller_->NotifyChannel(channel) == 0);
}

// pauseControl(id, paused): stop or resume reading a monitor's messages (console
// backpressure). False if the monitor is gone.
Napi::Value NativeHost::PauseControl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return Napi::Boolean::New(env, false);
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  bool paused = info[1].As<Napi::Boolean>().Value();
  return Napi::Boolean::New(env, poller_->PauseControl(id, paused) == 0);
}

// channelClose(channel): stop watching its doorbell and close both. Idempotent.
void NativeHost::ChannelClose(const Napi::CallbackInfo& info) {
  if (closed_) return;
  poller_->RemoveChannel(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
}

void NativeHost::Ref(const Napi::CallbackInfo& info) {
  if (!closed_) tsfn_.Ref(info.Env());
}

void NativeHost::Unref(const Napi::CallbackInfo& info) {
  if (!closed_) tsfn_.Unref(info.Env());
}

// close(): SIGKILL every monitor, reap, stop the watcher. Idempotent.
void NativeHost::Close(const Napi::CallbackInfo& info) { Shutdown(); }

}  // namespace pvm
