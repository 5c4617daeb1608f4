#include "monitor/boot.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <vector>

#include "monitor/boot_setup.h"
#include "monitor/clone_identity.h"
#include "monitor/clock.h"
#include "monitor/elf_loader.h"
#include "monitor/image_file.h"
#include "monitor/linux_personality.h"
#include "monitor/signals.h"
#include "monitor/snapshot_load.h"
#include "pvm/abi.h"

extern "C" const uint8_t pvm_linux_blob_start[];
extern "C" const uint8_t pvm_linux_blob_end[];

namespace pvm::monitor {

std::span<const uint8_t> EmbeddedLinuxPersonality() {
  return {pvm_linux_blob_start, static_cast<size_t>(pvm_linux_blob_end - pvm_linux_blob_start)};
}

bool PrepareAhead(Monitor* m, Failure* why) {
  // The VM first: it needs no RAM, and is the costly part.
  if (!m->backend->Prepare(why)) return false;
  if (m->options.prepare_ram == 0) return true;
  // Pooled: RAM and its page tables too, as far as the size can be guessed.
  uint64_t size = 0;
  if (!CheckRamSize(m->options.prepare_ram, &size, why) || !m->backend->Create(size, why)) return false;
  if (m->backend->needs_cpu_tables()) {
    WholeRam whole;
    if (!whole.Open(m->backend->memory(), why)) return false;
    WriteBootTables(whole.span(), m->backend->exception_stack_works());
  }
  EntryState control = BootControlState();
  sigset_t kick = KickSignals();
  bool ok = m->backend->SetEntryState(control, why) && SetUpSignals(why) && m->control.EnableKick(why) &&
            m->backend->WarmUp(why) && m->backend->SetKickSignals(kick, why);
  if (ok) m->prepared_ram = size;
  return ok;
}

namespace {

// RAM, the image and the boot data, up to a vCPU at the image's entry point.
bool BootImage(const BootRequest& request, Monitor* m, Failure* why) {
  if (!CheckRamSize(request.boot.ram_size, &m->ram_size, why)) return false;
  BootParams params;
  params.id = request.boot.id;
  params.parent_id = request.boot.parent_id;
  params.args = request.args;
  params.has_env = request.has_env;
  params.env = request.env;
  params.exception_stack = m->backend->exception_stack_works();
  params.cpu_tables = m->backend->needs_cpu_tables();
  params.hypercall_entry = m->backend->hypercall_entry();
  params.tsc_khz = m->backend->tsc_khz();
  FreshEntropy(params.entropy);  // generation 0: a spawned pVM
  if (ArgsAreaBytes(params) > PVM_ARGS_SIZE) {
    return Fail(why, ctl::ErrorCode::BadConfig, E2BIG,
                "arguments and environment take %" PRIu64 " bytes, the args area holds %" PRIu64, ArgsAreaBytes(params),
                static_cast<uint64_t>(PVM_ARGS_SIZE));
  }
  std::vector<uint8_t> image;
  if (!ReadImage(request.image_fd, ImageFileLimit(m->ram_size), &image, why)) return false;
  std::vector<uint8_t> files;  // the `files` spawn option's archive, for a Linux program
  if (request.files_fd >= 0) {
    struct stat st{};
    if (fstat(request.files_fd, &st) != 0) return FailErrno(why, ctl::ErrorCode::Internal, "fstat of the files");
    if (static_cast<uint64_t>(st.st_size) > m->ram_size) {
      return Fail(why, ctl::ErrorCode::NoMemory, ENOMEM, "the files take %" PRIu64 " bytes, more than the guest's RAM",
                  static_cast<uint64_t>(st.st_size));
    }
    if (!ReadImage(request.files_fd, m->ram_size, &files, why)) return false;
  }

  Backend* backend = m->backend.get();
  bool tables_ready = m->prepared_ram == m->ram_size;
  if (m->prepared_ram != 0 && !tables_ready) {
    // Pooled with another size: swap in RAM of the size asked for.
    GuestMemory fresh;
    if (!backend->AllocateMemory(m->ram_size, &fresh, why) || !backend->ReplaceMemory(std::move(fresh), why)) {
      return false;
    }
  } else if (m->prepared_ram == 0 && !backend->Create(m->ram_size, why)) {
    return false;
  }
  LoadedImage loaded;
  EntryState entry;
  {
    // All of RAM for the load only: windowed RAM (xen) is unmapped again before it runs.
    WholeRam whole;
    if (!whole.Open(backend->memory(), why)) return false;
    if (!LoadElf(image, whole.span(), &loaded, why)) return false;
    if (loaded.linux_program && !backend->runs_linux_programs()) {
      return RefuseLinuxProgram(kLinuxBackendsText, why);
    }
    if (!SetUpBoot(whole.span(), loaded, params, &entry, why, tables_ready)) return false;
    if (loaded.linux_program && !LoadLinuxPersonality(backend, whole.span(), EmbeddedLinuxPersonality(), loaded, files, &entry, why)) {
      return false;
    }
    m->linux_program = loaded.linux_program;
  }
  // pVMs of one image share its read-only pages (best effort: the copy is already there).
  for (const FilePages& f : loaded.shareable) {
    backend->ShareFilePages(backend->memory(), f.gpa, request.image_fd, f.offset, f.length);
  }
  // A pooled monitor set the control registers up already (they depend on nothing else).
  return tables_ready ? backend->SetEntryRegs(entry, why) : backend->SetEntryState(entry, why);
}

}  // namespace

bool Boot(const BootRequest& request, Monitor* m, Failure* why) {
  m->linux_personality = EmbeddedLinuxPersonality();
  int rc = m->registry.Map(request.registry_fd);
  close(request.registry_fd);
  if (rc != 0) return Fail(why, ctl::ErrorCode::Internal, -rc, "cannot map the pVM registry");
  m->identity = PvmIdentity{request.boot.id, request.boot.parent_id};
  m->identity.same_clones = (request.boot.flags & ctl::kBootSameClones) != 0;
  // Kept for an exec by the host, which gives the new image the same environment.
  m->has_env = request.has_env;
  m->env.assign(request.env.begin(), request.env.end());
  m->input_from_host = (request.boot.flags & ctl::kBootStdin) != 0;
  m->input.ended = !m->input_from_host;
  // From an image, or from a snapshot (its RAM and vCPU as they were).
  bool from_snapshot = (request.boot.flags & ctl::kBootSnapshot) != 0;
  bool booted = from_snapshot ? LoadSnapshot(request, m, why) : BootImage(request, m, why);
  close(request.image_fd);
  if (request.files_fd >= 0) close(request.files_fd);
  if (!booted) return false;
  Backend* backend = m->backend.get();
  m->registry.Add(m->identity.id, m->identity.parent_id, getpid());
  m->family.child_exit_bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (m->family.child_exit_bell < 0) return FailErrno(why, ctl::ErrorCode::Internal, "eventfd");
  m->channels = std::make_unique<ChannelTable>(backend, &backend->memory());
  if (from_snapshot) m->channels->Publish();  // the snapshot's channels are not this pVM's
  m->console = std::make_unique<Console>(backend->memory(), &m->control);
  // Warm spares need the backend's dirty log and more; without them, forks are plain fork(2).
  if ((request.boot.flags & ctl::kBootForkSpares) && backend->supports_spares()) {
    if (!backend->dirty_log()->SetLogging(true, why)) return false;
    m->spares.enabled = true;
    m->spares.want = true;
    m->spares.want_at_ns = 0;
  }
  return true;
}

}  // namespace pvm::monitor
