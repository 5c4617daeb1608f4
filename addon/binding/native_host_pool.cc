// NativeHost's spawn pool: monitors started ahead of time (VM and vCPU built), each
// waiting for a Boot; spawn() takes one (TakePooled) before it starts a new monitor.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "binding/js_errno.h"
#include "binding/native_host.h"

namespace pvm {

// prestart(count, ramSize) -> pool size: starts monitors ahead of time up to `count` waiting.
// Each builds its VM and vCPU and then waits for a Boot; spawn() takes them first.
Napi::Value NativeHost::Prestart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return Napi::Number::New(env, 0);
  uint32_t want = info[0].As<Napi::Number>().Uint32Value();
  uint64_t ram = info.Length() > 1 ? static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()) : 0;
  while (pool_.size() < want) {
    MonitorProcess proc;
    int rc = StartMonitor(monitor_path_, backend_, &proc, ram);
    if (rc != 0) ThrowErrno(env, "cannot start a pooled monitor", rc);
    pool_.push_back(proc);
  }
  return Napi::Number::New(env, static_cast<double>(pool_.size()));
}

// poolPids() -> pids of the monitors waiting in the pool.
Napi::Value NativeHost::PoolPids(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, pool_.size());
  for (size_t i = 0; i < pool_.size(); i++) out.Set(i, Napi::Number::New(env, pool_[i].pid));
  return out;
}

// True once the process behind pidfd has ended. A poll that a signal interrupts
// (SIGCHLD from Node's own children arrives at any time) is asked again: read as "ended",
// it once sent a spawn into a blocking wait for a live pooled monitor (found by the
// stress harness).
namespace {

bool ProcessEnded(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  int rc;
  do {
    rc = poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc > 0 && (p.revents & (POLLIN | POLLHUP | POLLNVAL));
}

}  // namespace

MonitorProcess NativeHost::TakePooled() {
  while (!pool_.empty()) {
    MonitorProcess p = pool_.back();
    pool_.pop_back();
    if (!ProcessEnded(p.pidfd)) return p;  // still waiting for its Boot
    // It died while waiting: reap it and try the next. SIGKILL first, so that the wait
    // cannot block on a live process whatever the look above got wrong.
    syscall(SYS_pidfd_send_signal, p.pidfd, SIGKILL, nullptr, 0);
    siginfo_t si;
    waitid(P_PID, static_cast<id_t>(p.pid), &si, WEXITED);
    close(p.control);
    close(p.pidfd);
  }
  return MonitorProcess{};
}

}  // namespace pvm
