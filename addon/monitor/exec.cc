#include "monitor/exec.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "monitor/blocking.h"
#include "monitor/linux_personality.h"
#include "monitor/clone_identity.h"
#include "monitor/boot_setup.h"
#include "monitor/clock.h"
#include "monitor/elf_loader.h"
#include "monitor/fault.h"
#include "monitor/hypercalls.h"
#include "monitor/image_file.h"
#include "monitor/spares.h"
#include "monitor/reset.h"
#include "pvm/abi.h"

namespace pvm::monitor {

namespace {

ExecOutcome Refuse(int64_t guest_errno, const Failure& why) {
  ExecOutcome o;
  o.error = -guest_errno;
  o.code = why.code;
  o.why = why.message;
  return o;
}

int64_t GuestErrnoOf(const Failure& why) {
  switch (why.code) {
    case ctl::ErrorCode::BadImage:
    case ctl::ErrorCode::ImageTooLarge:
    case ctl::ErrorCode::AbiMismatch: return PVM_ENOEXEC;
    case ctl::ErrorCode::NoMemory: return PVM_ENOMEM;
    case ctl::ErrorCode::BadConfig: return why.sys_errno == E2BIG ? PVM_E2BIG : PVM_EINVAL;
    default: return PVM_ENOMEM;
  }
}

enum class StringRead { Ok, OffRam, TooLong };

// A NUL-terminated string in guest RAM of at most max bytes (the NUL not counted).
StringRead GuestString(const GuestMemory& ram, uint64_t gpa, size_t max, std::string* out) {
  for (size_t n = 0;; n++) {
    const uint8_t* c = ram.GuestBuffer(gpa + n, 1);
    if (!c) return StringRead::OffRam;
    if (*c == 0) {
      out->assign(reinterpret_cast<const char*>(ram.At(gpa, n)), n);
      return StringRead::Ok;
    }
    if (n == max) return StringRead::TooLong;
  }
}

// Asks the host for the image and sleeps until it answers, the host goes (the monitor
// ends) or the pVM is told to end (-EINTR). pVM signals for the guest stay pending.
int WaitForExecImage(Monitor* m, const std::string& path, const std::vector<std::string>& args, uint64_t ram_size) {
  int fd = m->control.SendExecRequest(path, args, ram_size);
  if (fd < 0) return fd;
  SetActivity(m, kActivityExec);
  while (!m->control.TakeExecImage(&m->host.requests, &fd)) {
    if (TerminateRequested()) {
      fd = -EINTR;
      break;
    }
    RaceDelay();
    pollfd p{m->control.fd(), POLLIN, 0};
    m->backend->SettleKicks();
    ppoll(&p, 1, nullptr, &m->wait_mask);  // the answer, or a signal (looked at above)
  }
  SetActivity(m, kActivityRunning);
  return fd;
}

}  // namespace

ExecOutcome ExecPvm(Monitor* m, int image_fd, uint64_t ram_size, const std::vector<std::string>& args) {
  Failure why;
  uint64_t size = m->ram_size;
  if (ram_size != 0 && !CheckRamSize(ram_size, &size, &why)) {
    close(image_fd);
    return Refuse(GuestErrnoOf(why), why);
  }
  BootParams params;
  params.id = m->identity.id;
  params.parent_id = m->identity.parent_id;
  params.exception_stack = m->backend->exception_stack_works();
  params.cpu_tables = m->backend->needs_cpu_tables();
  params.hypercall_entry = m->backend->hypercall_entry();
  params.tsc_khz = m->backend->tsc_khz();
  params.generation = m->identity.generation;  // a new image, the same pVM
  FreshEntropy(params.entropy);
  for (const auto& a : args) params.args.emplace_back(a);
  params.has_env = m->has_env;  // the environment the host gave at spawn
  for (const auto& e : m->env) params.env.emplace_back(e);
  if (ArgsAreaBytes(params) > PVM_ARGS_SIZE) {
    close(image_fd);
    Fail(&why, ctl::ErrorCode::BadConfig, E2BIG, "arguments take %llu bytes, the args area holds %llu",
         static_cast<unsigned long long>(ArgsAreaBytes(params)), static_cast<unsigned long long>(PVM_ARGS_SIZE));
    return Refuse(PVM_E2BIG, why);
  }
  std::vector<uint8_t> image;
  bool read = ReadImage(image_fd, ImageFileLimit(size), &image, &why);
  if (!read) {
    close(image_fd);
    return Refuse(GuestErrnoOf(why), why);
  }

  // The new image in new RAM, on the side: a failure up to here leaves the old one be.
  GuestMemory fresh;
  LoadedImage loaded;
  EntryState entry;
  // A static Linux program gets the personality beside it, as at spawn (boot.cc), and
  // the files the old one's personality named (it packed them just before EXEC).
  std::span<const uint8_t> files = m->linux_program ? LinuxFilesOf(m->backend->memory(), m->ram_size)
                                                    : std::span<const uint8_t>{};
  bool ok = m->backend->AllocateMemory(size, &fresh, &why) && LoadElf(image, fresh.span(), &loaded, &why) &&
            (!loaded.linux_program || m->backend->runs_linux_programs() ||
             RefuseLinuxProgram(kLinuxBackendsText, &why)) &&
            SetUpBoot(fresh.span(), loaded, params, &entry, &why) &&
            (!loaded.linux_program ||
             LoadLinuxPersonality(m->backend.get(), fresh.span(), m->linux_personality, loaded, files, &entry, &why));
  if (ok) {
    for (const FilePages& f : loaded.shareable) m->backend->ShareFilePages(fresh, f.gpa, image_fd, f.offset, f.length);
  }
  close(image_fd);
  // A Linux program's syscall entry and sled went to a user-mode backend already: the
  // same ones again if the old image is one too (one personality), else take them back.
  bool user_mode = !m->backend->needs_cpu_tables();
  if (!ok && user_mode && !m->linux_program) m->backend->SetLinuxSyscalls(0, nullptr);
  if (!ok) return Refuse(GuestErrnoOf(why), why);
  if (user_mode && !loaded.linux_program) m->backend->SetLinuxSyscalls(0, nullptr);
  // What the pVM keeps goes into the new boot-info page.
  uint32_t fork_channel = kNoChannel;
  std::memcpy(&fork_channel, m->backend->memory().At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_FORK_CHANNEL_OFFSET, 4), 4);
  std::memcpy(fresh.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_FORK_CHANNEL_OFFSET, 4), &fork_channel, 4);
  uint64_t pending = PendingSignals(*m);  // the old page's word: the only record of them
  std::memcpy(fresh.At(PVM_BOOT_INFO_GPA + PVM_BOOT_INFO_PENDING_SIGNALS_OFFSET, 8), &pending, 8);

  // The point of no return. The console is drained already (every exit drains it).
  if (!m->backend->FinishExit(&why) || !m->backend->ReplaceMemory(std::move(fresh), &why)) {
    return Refuse(PVM_ENOMEM, why);
  }
  // `fresh` holds the old RAM now and goes with this scope. From here on a failure
  // cannot give the old image back: the pVM ends (the caller sees ends_pvm).
  m->ram_size = size;
  m->linux_program = loaded.linux_program;
  m->channels->Publish();
  m->console = std::make_unique<Console>(m->backend->memory(), &m->control);
  m->started = false;
  if (!m->backend->SetEntryState(entry, &why)) {
    ExecOutcome o = Refuse(PVM_ENOMEM, why);
    o.ends_pvm = true;
    return o;
  }
  return ExecOutcome{};
}

ExecOutcome GuestExec(Monitor* m, const VcpuExit& x) {
  const GuestMemory& ram = m->backend->memory();
  Failure why;
  std::string path;
  if (GuestString(ram, x.args[0], 255, &path) != StringRead::Ok) {
    Fail(&why, ctl::ErrorCode::BadConfig, EFAULT, "EXEC: the path is not a string in guest RAM (or too long)");
    return Refuse(PVM_EFAULT, why);
  }
  std::vector<std::string> args;
  if (x.args[1] == 0) {
    args.push_back(path);
  } else {
    // Read no more than the args area holds: the pointers, the strings and their NULs,
    // counted as they are read (like execve's E2BIG), so a guest cannot make the monitor
    // copy more than that.
    uint64_t left = PVM_ARGS_SIZE - 8;  // the NULL that ends argv
    for (uint64_t i = 0;; i++) {
      const uint8_t* slot = ram.GuestBuffer(x.args[1] + i * 8, 8);
      if (!slot) {
        Fail(&why, ctl::ErrorCode::BadConfig, EFAULT, "EXEC: argv is not a NULL-terminated array in guest RAM");
        return Refuse(PVM_EFAULT, why);
      }
      uint64_t p;
      std::memcpy(&p, slot, 8);
      if (p == 0) break;
      if (left < 8 + 1) {
        Fail(&why, ctl::ErrorCode::BadConfig, E2BIG, "EXEC: argv holds more than the args area (%llu bytes)",
             static_cast<unsigned long long>(PVM_ARGS_SIZE));
        return Refuse(PVM_E2BIG, why);
      }
      left -= 8 + 1;
      std::string a;
      StringRead read = GuestString(ram, p, left, &a);
      if (read == StringRead::OffRam) {
        Fail(&why, ctl::ErrorCode::BadConfig, EFAULT, "EXEC: argv[%llu] is not a string in guest RAM",
             static_cast<unsigned long long>(i));
        return Refuse(PVM_EFAULT, why);
      }
      if (read == StringRead::TooLong) {
        Fail(&why, ctl::ErrorCode::BadConfig, E2BIG, "EXEC: argv[%llu] runs past what the args area holds (%llu bytes)",
             static_cast<unsigned long long>(i), static_cast<unsigned long long>(PVM_ARGS_SIZE));
        return Refuse(PVM_E2BIG, why);
      }
      left -= a.size();
      args.push_back(std::move(a));
    }
  }
  int fd = WaitForExecImage(m, path, args, x.args[2]);
  if (fd == -EINTR) {
    Fail(&why, ctl::ErrorCode::BadImage, EINTR, "EXEC: ended while waiting for the host's image");
    return Refuse(PVM_EINTR, why);  // the vCPU loop ends the pVM
  }
  if (fd < 0) {
    Fail(&why, ctl::ErrorCode::BadImage, -fd, "EXEC: the host gave no image %s", path.c_str());
    return Refuse(fd == -E2BIG ? PVM_E2BIG : fd == -EINVAL ? PVM_EINVAL : fd == -ENOEXEC ? PVM_ENOEXEC : PVM_ENOENT, why);
  }
  if (!m->host.requests.empty()) m->host.waiting = true;  // requests that came meanwhile
  ExecOutcome o = ExecPvm(m, fd, x.args[2], args);
  o.image_given = true;
  return o;
}

HypercallResult ExecHypercall(const VcpuExit& x, Monitor* m) {
  ctl::Execed done{};
  done.start_ns = MonotonicNs();
  ExecOutcome o = GuestExec(m, x);
  if (o.ends_pvm) return End(InternalFault(o.why.c_str(), x.rip));
  if (o.error != 0) {
    if (o.image_given) {
      // The host gave the image: tell it why it was refused (e.g. another pvm ABI).
      done.error = o.error;
      done.code = o.code;
      done.ready_ns = MonotonicNs();
      m->control.SendExeced(done, o.why);
    }
    return Return(static_cast<uint64_t>(o.error));
  }
  done.ready_ns = MonotonicNs();
  done.image_flags = m->linux_program ? ctl::kReadyLinux : 0;
  m->control.SendExeced(done);
  SparesAfterExec(m);
  DropResetPoint(m);  // the fork point's image is gone
  return NoCompletion(HypercallResult::Then::None);  // the vCPU is at the new image's entry
}

}  // namespace pvm::monitor
