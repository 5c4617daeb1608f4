#include "monitor/vcpu_loop.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "common/control.h"
#include "common/wire_errno.h"
#include "monitor/blocking.h"
#include "monitor/clock.h"
#include "monitor/exec.h"
#include "monitor/fault.h"
#include "monitor/fork.h"
#include "monitor/hypercalls.h"
#include "monitor/reset.h"
#include "monitor/signals.h"
#include "monitor/snapshot_save.h"
#include "monitor/spares.h"
#include "monitor/transport.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

void PrintStats(const Monitor& m) {
  uint64_t now = MonotonicNs();
  fprintf(stderr,
          "pvm-monitor stats: backend=%s flags=0x%x exits=%" PRIu64 " hypercalls=%" PRIu64 " start->ready=%.1fus "
          "ready->first_exit=%.1fus start->end=%.1fus\n",
          m.backend->name(), m.backend->flags(), m.backend->exit_count(), m.stats.hypercalls,
          (m.stats.vm_ready_ns - m.stats.monitor_start_ns) / 1e3, (m.stats.first_exit_ns - m.stats.vm_ready_ns) / 1e3,
          (now - m.stats.monitor_start_ns) / 1e3);
}

}  // namespace

[[noreturn]] void Finish(Monitor* m, const ctl::Exit& end) {
  KillSpare(m);  // it would keep this process waiting below
  DropResetPoint(m);  // likewise its keeper
  // The registry first: a parent waiting for us reads it as soon as we ring it.
  // ExitKind has WAITPID's kind numbers (control_gen.h asserts it).
  m->registry.MarkEnded(m->identity.id, static_cast<uint32_t>(end.kind), end.code);
  if (m->family.parent_exit_bell >= 0) {
    uint64_t one = 1;
    (void)!write(m->family.parent_exit_bell, &one, sizeof one);
    PostChildEnded(m);
  }
  m->control.SendExit(end);
  if (m->options.stats) PrintStats(*m);
  m->channels->CloseAll();
  m->console.reset();
  m->channels.reset();
  m->backend.reset();
  close(m->control.fd());
  while (wait(nullptr) > 0 || errno == EINTR) {
  }
  _exit(0);
}

namespace {

// Serves what the host asked for since the last look. Only at a clean exit: the vCPU
// is not in the middle of a hypercall. A forked child returns from here too, with the
// parent's other requests dropped (they are the parent's to serve).
void ServeHost(Monitor* m) {
  m->host.waiting = false;
  RaceDelay();  // requests that arrive now must still be seen (by PollHost or their kick)
  HostRequests& requests = m->host.requests;
  m->control.PollHost(&requests);
  // The guest may be anywhere between looking (for a channel to accept, its fork
  // channel) and sleeping in WAIT: what is served now must wake that WAIT. Not needed
  // when the last WAIT just returned for this: the guest looks again after it.
  if (!requests.empty() && !m->host.wait_returned) m->host.wake_next_wait = true;
  m->host.wait_returned = false;
  // Standard input: kept until the guest reads it (STDIN_READ). Nothing after its end.
  if (!m->input.ended) m->input.bytes += requests.input;
  if (requests.input_end) m->input.ended = true;
  requests.input.clear();
  requests.input_end = false;
  for (auto& a : requests.attaches) {
    // A channel the host gives: to itself, or to another pVM of the family (checked there).
    ctl::Attached reply{};
    reply.tag = a.request.tag;
    int slot = m->channels->FreeSlot();
    ChannelEnd end;
    end.peer_id = a.request.peer_id;
    end.side = a.request.side == PVM_CHANNEL_SIDE_A ? PVM_CHANNEL_SIDE_A : PVM_CHANNEL_SIDE_B;
    end.memfd = a.fds[0];
    end.own_doorbell = a.fds[1];
    end.peer_doorbell = a.fds[2];
    end.peer_pidfd = a.fds[3];
    a.fds[0] = a.fds[1] = a.fds[2] = a.fds[3] = -1;
    Failure why;
    bool shm = a.request.flags & ctl::kAttachShm;
    if (slot < 0) {
      reply.error = -PVM_EAGAIN;
      ChannelTable::Discard(&end);
    } else if (shm ? !m->channels->AttachShmFd(static_cast<uint32_t>(slot), end.memfd, &why)
                   : !m->channels->AttachShared(static_cast<uint32_t>(slot), end, &why)) {
      reply.error = WireErrno(why.sys_errno, PVM_ENOMEM);
    } else {
      reply.slot = static_cast<uint32_t>(slot);
      if (shm) RenewSpare(m);
    }
    m->control.SendAttached(reply);
  }
  requests.attaches.clear();
  for (auto& e : requests.execs) {
    ctl::Execed done{};
    done.tag = e.tag;
    done.start_ns = MonotonicNs();
    ExecOutcome o = ExecPvm(m, e.image_fd, e.ram_size, e.args);
    e.image_fd = -1;
    done.error = o.error;
    done.code = o.code;
    done.ready_ns = MonotonicNs();
    done.image_flags = m->linux_program ? ctl::kReadyLinux : 0;
    m->control.SendExeced(done, o.why);
    if (o.ends_pvm) Finish(m, InternalFault(o.why.c_str(), 0));
    if (o.error == 0) {
      SparesAfterExec(m);
      DropResetPoint(m);  // the fork point's image is gone
    }
  }
  requests.execs.clear();
  for (auto& s : requests.snapshots) ServeSnapshot(m, s.tag, s.fd, s.image);
  requests.snapshots.clear();
  for (uint64_t tag : requests.resets) {
    ResetOutcome o = ServeReset(m, tag);
    if (o.fatal) Finish(m, InternalFault(o.why.c_str(), 0));
  }
  requests.resets.clear();
  while (!requests.forks.empty()) {
    uint64_t tag = requests.forks.front();
    requests.forks.erase(requests.forks.begin());
    ForkResult r = ForkPvm(m, ForkOrigin::Host, tag, 0);
    if (r.in_child) return;  // the requests were cleared in the child
  }
}

}  // namespace

[[noreturn]] void RunGuest(Monitor* m) {
  Failure why;
  sigset_t& wait_mask = m->wait_mask;
  MaskLettingIn(KickSignals(), &wait_mask);
  for (;;) {
    if (TerminateRequested()) Finish(m, Terminated());
    // The host's requests first: those that came while the monitor was busy (their kick
    // was taken with another one, or came before the socket could kick: a new child's
    // socket, a pooled monitor's first moments) would otherwise wait for the guest's next
    // WAIT, and a guest that computes never makes one.
    if (m->host.waiting) {
      ServeHost(m);
      continue;  // a host fork may have made this process the child
    }
    // A warm spare is made between exits, when the last fork is a little behind us.
    if (m->spares.want && MonotonicNs() >= m->spares.want_at_ns && MakeSpare(m).in_child) continue;
    VcpuExit exit;
    Backend* backend = m->backend.get();
    // The last exit is handled: what windowed RAM (xen) mapped for it may go.
    backend->memory().TrimWindows();
    if (!backend->Run(&exit, &why)) {
      m->console->Drain();
      Finish(m, InternalFault(why.message.c_str(), exit.rip));
    }
    if (exit.kind == VcpuExit::Kind::Interrupted) {
      TakeKickSignals();
      m->console->Drain();
      m->host.waiting = true;  // a kick: most likely the host wrote (served at the top)
      CollectSignals(m);
      continue;
    }
    if (!m->started) {
      m->stats.first_exit_ns = MonotonicNs();
      m->control.SendStarted(m->stats.first_exit_ns);
      m->started = true;
    }
    m->console->Drain();  // first, so output before a fault is never lost
    if (exit.kind == VcpuExit::Kind::Hypercall) {
      switch (ReadHypercall(backend->memory(), &exit)) {
        case Doorbell::Call:
          break;
        case Doorbell::Floor:  // the bench floor (and the pool's warm-up): no work
          if (!backend->CompleteHypercall(&why)) Finish(m, InternalFault(why.message.c_str(), exit.rip));
          continue;
        case Doorbell::BadBlock:
          Finish(m, BadBlockFault(exit));
      }
    }
    if (exit.kind != VcpuExit::Kind::Hypercall) {
      Finish(m, DescribeFault(ResolveFaultReport(exit, backend->memory()), m->ram_size));
    }
    m->stats.hypercalls++;
    HypercallResult result = HandleHypercall(exit, m, &wait_mask);
    switch (result.then) {
      case HypercallResult::Then::End: Finish(m, result.exit);
      case HypercallResult::Then::None:     // EXEC: the vCPU is at the new image's entry
      case HypercallResult::Then::InChild:  // FORK: this is the child, its vCPU restored
        continue;
      case HypercallResult::Then::Complete: break;
    }
    if (!FinishHypercall(backend, result.value, &why)) Finish(m, InternalFault(why.message.c_str(), exit.rip));
    CollectSignals(m);
  }
}

}  // namespace pvm::monitor
