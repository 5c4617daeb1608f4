/*
 * pvm.h — the pVM guest API: hypercalls, boot information, fork, channels, console,
 * heap statistics.
 *
 * A pVM guest is a static ELF64 image linked with the runtime in hypercalls/runtime.
 * The monitor starts it at `_start` (crt0) with the boot-info page; crt0 calls
 * main(argc, argv) and passes its return value to exit().
 *
 * Every hypercall is an exit to the monitor, which is expensive (tens of µs on kvm_pvm
 * hosts): prefer the functions here that read the boot-info page over hypercalls, and
 * let the console ring batch output (it is flushed only when full, and the monitor
 * drains it at every exit anyway, so nothing is lost when the guest exits or faults).
 *
 * All ABI numbers (hypercall numbers, error codes, memory layout, the boot-info struct)
 * come from <pvm/abi.h>, generated from hypercalls/abi.json.
 */
#ifndef PVM_H
#define PVM_H

#include <stddef.h>
#include <stdint.h>
#include <pvm/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- generic hypercalls ------------------------------------------------------------
 * The transport (abi.json "hypercall"): the number and arguments go into this vCPU's
 * argument block (struct pvm_hc_block at PVM_HC_BLOCK_GPA), one 4-byte write to
 * PVM_HC_PORT names the block, the monitor writes the result back into it. Result:
 * negative = -PVM_Exxx. These functions live in the runtime (hypercalls/runtime/
 * hypercall.c), not here, so a transport change is a relink, not a rebuild. Each is a
 * compiler memory barrier: the monitor may read and write guest memory the arguments
 * name.
 */
long pvm_hypercall0(long nr);
long pvm_hypercall1(long nr, long a0);
long pvm_hypercall2(long nr, long a0, long a1);
long pvm_hypercall3(long nr, long a0, long a1, long a2);
long pvm_hypercall4(long nr, long a0, long a1, long a2, long a3);
long pvm_hypercall5(long nr, long a0, long a1, long a2, long a3, long a4);
long pvm_hypercall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

/** A bare write to the floor port, which the monitor answers with no work: what one
 * exit costs without a hypercall's own work (the bench's baseline for hypercall.rtt). */
void pvm_transport_floor(void);

/** How many hypercalls (exits to the monitor, floor writes included) this pVM's runtime
 * has made since it started (a fork child starts from its parent's count): lets a
 * guest see what an operation costs in exits, e.g. that pvm_signals() makes none. */
extern uint64_t pvm_hypercall_count;

/* ---- raw wrappers, one per hypercall in abi.json ------------------------------------
 * For every entry X(NAME, nr, nargs) of PVM_HYPERCALL_LIST this defines
 *   static inline long pvm_hc_NAME(long a0, ...);   (nargs arguments)
 * e.g. pvm_hc_TIME(), pvm_hc_EXIT(code). A hypercall added to abi.json gets its raw
 * wrapper here automatically; add a typed, documented wrapper below when it is useful.
 */
#define PVM__HC_PARAMS_0 void
#define PVM__HC_PARAMS_1 long a0
#define PVM__HC_PARAMS_2 long a0, long a1
#define PVM__HC_PARAMS_3 long a0, long a1, long a2
#define PVM__HC_PARAMS_4 long a0, long a1, long a2, long a3
#define PVM__HC_PARAMS_5 long a0, long a1, long a2, long a3, long a4
#define PVM__HC_CALL_0(nr) pvm_hypercall0(nr)
#define PVM__HC_CALL_1(nr) pvm_hypercall1(nr, a0)
#define PVM__HC_CALL_2(nr) pvm_hypercall2(nr, a0, a1)
#define PVM__HC_CALL_3(nr) pvm_hypercall3(nr, a0, a1, a2)
#define PVM__HC_CALL_4(nr) pvm_hypercall4(nr, a0, a1, a2, a3)
#define PVM__HC_CALL_5(nr) pvm_hypercall5(nr, a0, a1, a2, a3, a4)
#define PVM__HC_RAW_WRAPPER(NAME, nr, nargs) \
  static inline long pvm_hc_##NAME(PVM__HC_PARAMS_##nargs) { return PVM__HC_CALL_##nargs(nr); }
PVM_HYPERCALL_LIST(PVM__HC_RAW_WRAPPER)
#undef PVM__HC_RAW_WRAPPER

/* ---- boot information ------------------------------------------------------------- */

/** The boot-info page (set by crt0 from the pointer the monitor passed in rdi). */
extern struct pvm_boot_info *__pvm_boot;

/**
 * The boot-info page the monitor filled in: argc/argv, ids, RAM size, heap bounds,
 * stack top, console ring. Read-only for guest code (the console fields belong to the
 * runtime).
 */
static inline const struct pvm_boot_info *pvm_boot_info(void) { return __pvm_boot; }

/** This pVM's id (from the boot-info page: no exit). */
static inline uint64_t pvm_id(void) { return __pvm_boot->id; }

/** The parent pVM's id, 0 if the pVM was started by the host (boot-info page: no exit). */
static inline uint64_t pvm_parent_id(void) { return __pvm_boot->parent_id; }

/** Size of this pVM's RAM in bytes (boot-info page). */
static inline uint64_t pvm_ram_size(void) { return __pvm_boot->ram_size; }

/* ---- named hypercalls ------------------------------------------------------------- */

/**
 * End this pVM with exit code `code` (0..255; the monitor decides what it does with
 * other values). Output already written to the console is not lost: the monitor drains
 * the ring at this exit. Does not run atexit handlers (use exit() for that).
 */
__attribute__((noreturn)) static inline void pvm_exit(int code)
{
  pvm_hypercall1(PVM_HC_EXIT, code);
  __builtin_trap(); /* EXIT never returns; if it did, fault rather than run on. */
}

/**
 * Host CLOCK_MONOTONIC in nanoseconds. Without an exit where the monitor gives the rate
 * of the guest's TSC (boot-info tsc_khz: kvm): rdtsc scaled from a base that one TIME
 * hypercall sets, again at each new clock_epoch and every 100 ms; never goes backwards.
 * Elsewhere one TIME hypercall (one exit on xen; a call on process).
 */
uint64_t pvm_time_ns(void);

/** pvm_time_ns() for a given boot-info page (the Linux personality's). */
uint64_t __pvm_clock_ns(const volatile struct pvm_boot_info *boot);

/** This pVM's id asked from the monitor (GETID hypercall: one exit; pvm_id() is free). */
static inline uint64_t pvm_getid(void) { return (uint64_t)pvm_hypercall0(PVM_HC_GETID); }

/* ---- fork --------------------------------------------------------------------------- */

/**
 * Fork this pVM (FORK hypercall), like fork(2): the child is a copy-on-write clone that
 * continues from this call. Returns the child's id in the parent, 0 in the child, or
 * -PVM_Exxx (ENOMEM; EAGAIN when every channel slot is taken; EFAULT). If `channel_out`
 * is not NULL it receives, in both, the slot of the new parent-child channel (the same
 * number in both; the parent is side A, the child side B). The child has no other
 * channels; its pvm_fork_channel() is that slot and its pvm_parent_id() the parent.
 */
void pvm_channel_forked(long fork_result, const uint32_t *channel_out);
static inline long pvm_fork(uint32_t *channel_out)
{
  long r = pvm_hypercall1(PVM_HC_FORK, (long)(uintptr_t)channel_out);
  pvm_channel_forked(r, channel_out); /* its channel is not one for pvm_channel_accept() */
  return r;
}

/**
 * Rewind this pVM to its fork point (RESET hypercall; the host's Pvm.reset() does the
 * same): memory, registers and boot-info page as they were when it was forked, with
 * fresh entropy and a new generation (rand() reseeds). Its channel to the forker stays,
 * emptied of messages it had not received; channels and children it got since are
 * closed and killed. Does not return on success: the pVM goes on from its fork point
 * (its pvm_fork() returns 0 again). On failure returns -PVM_EINVAL (not a fork child, or
 * it exec'ed since), -PVM_ENOSYS (the backend cannot reset) or -PVM_ENOMEM.
 */
static inline long pvm_reset(void) { return pvm_hypercall0(PVM_HC_RESET); }

/** No channel slot (what pvm_fork_channel() returns when there is no fork channel). */
#define PVM_CHANNEL_NONE PVM_NO_CHANNEL

/**
 * The slot of the channel to whoever forked this pVM (its parent pVM, or the host for a
 * fork the host asked for), PVM_CHANNEL_NONE if none. Boot-info page (no exit); read
 * afresh each call, since a fork the host asks for can set it under a running program.
 */
static inline uint32_t pvm_fork_channel(void)
{
  return *(const volatile uint32_t *)&__pvm_boot->fork_channel;
}

/* ---- channels ---------------------------------------------------------------------
 * A channel is a pair of message rings in memory shared with its other end (another
 * pVM or the host), mapped at pvm_channel_base(slot). Messages are byte strings of at
 * most PVM_CHANNEL_MAX_MESSAGE bytes, delivered whole and in order. Sending and
 * receiving with data or room at hand make no exit at all; a NOTIFY hypercall is made
 * only when the other end sleeps, a WAIT hypercall only when this end has to sleep.
 * The ring protocol is the one in abi.json "channel" (the host end speaks it from
 * JavaScript with Atomics). A channel ends when its other end exits (or closes): the
 * monitor closes this pVM's ends when it exits, nothing needs to be done here.
 * One thread of control uses a given ring; these functions are not reentrant per ring.
 * Errors (negative): -PVM_EBADF slot not open, -PVM_EAGAIN no room / no message
 * (try_* only), -PVM_EPIPE the other end closed, -PVM_EMSGSIZE message too large or
 * buffer too small, -PVM_ETIMEDOUT, -PVM_EINVAL the other end broke the ring protocol.
 */

/**
 * How many times a blocking call polls its ring(s) (with a `pause` in between) before
 * it sleeps in WAIT. One poll costs ~50-90 ns in a guest (`pause` alone is 10-140
 * cycles depending on the CPU), so the default 256 is ~15-25 µs: about the price of one
 * exit, which sleeping costs at least (plus the other end's NOTIFY exit). Raise it for
 * tight guest-to-guest ping-pong on idle cores, set 0 never to spin.
 */
#define PVM_CHANNEL_SPIN 256
/** The poll count the blocking channel calls use (PVM_CHANNEL_SPIN unless changed). */
extern unsigned pvm_channel_spin;
/**
 * The adaptive spin's bound, in polls (fixed spin included). When a blocking call had
 * to sleep and the wake-up came soon after its spin gave up, the next one polls that
 * much longer (+25%), up to this many polls in all (~50-90 µs at the default 1024); a
 * spin that runs out halves the extra again, so a quiet peer soon costs only the fixed
 * spin, and an idle guest sleeps. pvm_channel_spin 0 turns it off too, as does setting
 * this to pvm_channel_spin or less.
 */
#define PVM_CHANNEL_SPIN_MAX 2048
extern unsigned pvm_channel_spin_max;

/** The channel table entry of `slot` (written by the monitor; NULL if out of range). */
static inline const volatile struct pvm_channel_entry *pvm_channel_table_entry(uint32_t slot)
{
  const struct pvm_boot_info *bi = __pvm_boot;
  if (slot >= bi->channel_slots || bi->channel_table == 0)
    return 0;
  return (const volatile struct pvm_channel_entry *)(uintptr_t)bi->channel_table + slot;
}

/** 1 if channel `slot` is open in this pVM, else 0 (boot-info page: no exit). */
static inline int pvm_channel_is_open(uint32_t slot)
{
  const volatile struct pvm_channel_entry *e = pvm_channel_table_entry(slot);
  return e != 0 && e->state == PVM_CHANNEL_STATE_OPEN;
}

/** The id of the other end of channel `slot` (PVM_CHANNEL_PEER_HOST = the host). */
static inline uint64_t pvm_channel_peer_id(uint32_t slot)
{
  const volatile struct pvm_channel_entry *e = pvm_channel_table_entry(slot);
  return e ? e->peer_id : 0;
}

/** Where channel `slot` is mapped: channel_window + slot * PVM_CHANNEL_SLOT_SIZE. */
static inline void *pvm_channel_base(uint32_t slot)
{
  return (void *)(uintptr_t)(__pvm_boot->channel_window + (uint64_t)slot * PVM_CHANNEL_SLOT_SIZE);
}

/**
 * Send `len` bytes without blocking: 0, or -PVM_EAGAIN (no room now), -PVM_EMSGSIZE
 * (len > PVM_CHANNEL_MAX_MESSAGE), -PVM_EPIPE (the receiver closed), -PVM_EBADF.
 */
int pvm_channel_try_send(uint32_t slot, const void *buf, size_t len);

/** Send `len` bytes, sleeping while the ring has no room. Errors as pvm_channel_try_send. */
int pvm_channel_send(uint32_t slot, const void *buf, size_t len);

/**
 * Receive the next message into `buf` (`cap` bytes) without blocking: its length, or
 * -PVM_EAGAIN (no message), -PVM_EPIPE (no message and the sender closed: the end of
 * the channel), -PVM_EMSGSIZE (cap is smaller than the next message, which stays in the
 * ring), -PVM_EBADF.
 */
long pvm_channel_try_recv(uint32_t slot, void *buf, size_t cap);

/** Receive the next message, sleeping until there is one. Errors as pvm_channel_try_recv. */
long pvm_channel_recv(uint32_t slot, void *buf, size_t cap);

/**
 * pvm_channel_recv() giving up after `timeout_ns` nanoseconds with -PVM_ETIMEDOUT
 * (0: do not wait; all ones: no limit). A finite timeout costs a TIME exit when the
 * call has to sleep.
 */
long pvm_channel_recv_timeout(uint32_t slot, void *buf, size_t cap, uint64_t timeout_ns);

/**
 * Wait until one of the `count` channels in `slots` has a message to receive or has
 * been closed by its sender, or `timeout_ns` passes (0: do not wait; all ones: no
 * limit). Returns the index in `slots` of a ready channel (fairly rotated between calls
 * when several are ready), -PVM_ETIMEDOUT, -PVM_EBADF (a slot that is not open) or
 * -PVM_EINVAL (count > PVM_CHANNEL_SLOTS). With count 0 it only sleeps out the timeout.
 */
int pvm_channel_wait(const uint32_t *slots, uint32_t count, uint64_t timeout_ns);

/**
 * A channel the host gave this pVM (Host.channel() / Host.connect() in Node) that it
 * has not seen yet: returns its slot (and the other end's pVM id in *peer_id, 0 for the
 * host), -PVM_EAGAIN (timeout_ns 0 and none), -PVM_ETIMEDOUT or -PVM_EINTR. Channels
 * made by pvm_fork() in this pVM do not count.
 */
long pvm_channel_accept(uint64_t *peer_id, uint64_t timeout_ns);

/**
 * Close this end of channel `slot`: the other end reads what was sent, then
 * end-of-stream. Shared-memory regions are unmapped. The slot is free again.
 * Returns 0 or -PVM_EBADF.
 */
long pvm_channel_close(uint32_t slot);

/**
 * Pipe-like use of a channel: write `len` bytes (cut into messages; blocks for room).
 * Returns len, or -PVM_Exxx if nothing was written (EPIPE: the reader closed).
 */
long pvm_pipe_write(uint32_t slot, const void *buf, size_t len);
/**
 * Read up to `cap` bytes, whatever message boundaries the writer had (blocks until at
 * least one byte). Returns the count, 0 at end of stream, or -PVM_Exxx. Use either the
 * pipe calls or the message calls on a slot, not both.
 */
long pvm_pipe_read(uint32_t slot, void *buf, size_t cap);
/** Internal: drop what pvm_pipe_read kept of a slot (pvm_channel_close does). */
void pvm_pipe_forget(uint32_t slot);

/**
 * The raw WAIT hypercall: sleep until the doorbell of one of `count` channels in
 * `slots` rings, `timeout_ns` passes (0: no sleep; all ones: no limit) or the host
 * needs this pVM. Returns how many of the doorbells had rung (0: timed out or woken for
 * another reason), or -PVM_Exxx. Re-check whatever was waited for when it returns.
 * pvm_wait(NULL, 0, ~0ULL) sleeps until the host wakes this pVM (e.g. after a fork the
 * host asked for: check pvm_fork_channel() afterwards).
 */
static inline long pvm_wait(const uint32_t *slots, uint32_t count, uint64_t timeout_ns)
{
  return pvm_hypercall3(PVM_HC_WAIT, (long)(uintptr_t)slots, (long)count, (long)timeout_ns);
}

/** The raw NOTIFY hypercall: ring the other end's doorbell of channel `slot`. */
static inline long pvm_notify(uint32_t slot) { return pvm_hypercall1(PVM_HC_NOTIFY, (long)slot); }

/* ---- signals, kill, waitpid, shared memory (the family) ---------------------------- */

/** A handler for a pVM signal (PVM_SIGUSR1 or PVM_SIGUSR2). */
typedef void (*pvm_signal_handler)(int sig);

/**
 * Run `handler` when `sig` (PVM_SIGUSR1/2) arrives; NULL removes it. Handlers run inside
 * blocking calls (channel receive/send/wait, pvm_waitpid) -- while they sleep, and also
 * while they poll or just before they return, so a signal that came before the call
 * completes is handled by then -- and those calls then go on. A
 * signal without a handler makes those calls return -PVM_EINTR until pvm_signals()
 * takes it. Returns 0 or -PVM_EINVAL.
 */
int pvm_signal(int sig, pvm_signal_handler handler);
/** Take the pending signals: bit n set = signal n. No exit where the monitor offers
 * PVM_BOOT_FLAG_SIGNALS_IN_PAGE (an atomic exchange on the boot-info word), else the
 * SIGNALS hypercall. */
uint64_t pvm_signals(void);
/** The pending signals, read from the boot-info page (no exit). */
uint64_t pvm_pending_signals(void);
/** Internal to blocking calls: after -PVM_EINTR, run handlers; 1 = go on waiting. */
int pvm_restart_after_eintr(void);

/**
 * Send `sig` (PVM_SIGTERM, PVM_SIGKILL, PVM_SIGUSR1, PVM_SIGUSR2) to pVM `id`, which must
 * be an ancestor or a descendant of this one. 0, -PVM_ESRCH, -PVM_EPERM, -PVM_EINVAL
 * (not 1..63). Other numbers up to 63 carry a Linux program's signals (abi.json KILL):
 * to a pVM that does not catch them (boot-info caught_signals, which this runtime leaves
 * 0) 17, 18, 23 and 28 do nothing and the rest end it like PVM_SIGTERM, that number its
 * code.
 */
long pvm_kill(uint64_t id, int sig);

/*
 * How a child ended (pvm_waitpid): struct pvm_child_status in pvm/abi.h (abi.json
 * waitStatus): uint32_t kind (PVM_WAIT_EXIT, PVM_WAIT_FAULT, PVM_WAIT_KILLED) and
 * int32_t code (the exit code, or the signal).
 */

/**
 * Wait for child `id` (0: any) to end, like waitpid(2). Returns the child's id,
 * 0 (timeout_ns 0 and none has ended), -PVM_ECHILD (no such child), -PVM_ETIMEDOUT,
 * -PVM_EINTR (an unhandled signal). timeout_ns: 0 = WNOHANG, ~0ULL = no limit.
 */
long pvm_waitpid(uint64_t id, struct pvm_child_status *status, uint64_t timeout_ns);

/**
 * A shared-memory region of `size` bytes (<= PVM_CHANNEL_SLOT_SIZE), zeroed, in a free
 * channel slot: its address is pvm_channel_base(slot). Children forked afterwards share
 * it at the same address. Returns the slot or -PVM_EAGAIN/-PVM_EINVAL/-PVM_ENOMEM.
 */
long pvm_shm_create(size_t size);
/**
 * A shared-memory region the host gave this pVM (Host.share() in Node) and it has not
 * seen yet: its slot, -PVM_EAGAIN (timeout_ns 0), -PVM_ETIMEDOUT or -PVM_EINTR.
 */
long pvm_shm_accept(uint64_t timeout_ns);

/* ---- exec ---------------------------------------------------------------------------- */

/**
 * Replace this pVM's image, like execve(2): `name` is an image the host allows (a bare
 * file name, e.g. "hello" or "hello.pvm"), `argv` the new argv (NULL-terminated; NULL:
 * just the name), `ram_size` the new RAM in bytes (0: the same). Does not return on
 * success: same id, family, channels (same slots) and shared regions. On failure returns
 * -PVM_ENOENT, -PVM_ENOEXEC, -PVM_E2BIG, -PVM_EINVAL, -PVM_ENOMEM or -PVM_EFAULT and
 * this image goes on.
 */
static inline long pvm_exec(const char *name, char *const argv[], uint64_t ram_size)
{
  return pvm_hypercall3(PVM_HC_EXEC, (long)(uintptr_t)name, (long)(uintptr_t)argv, (long)ram_size);
}

/* ---- console ---------------------------------------------------------------------- */

/**
 * Append `len` bytes to the console ring. No exit unless the ring is full, in which
 * case the runtime makes a CONSOLE_FLUSH hypercall and carries on. Returns the number
 * of bytes written (less than `len` only if the monitor stopped draining the ring).
 */
size_t pvm_console_write(const void *buf, size_t len);

/**
 * Make everything written so far visible to the host now (CONSOLE_FLUSH hypercall).
 * Costs one exit, and only if the ring holds undrained bytes. Returns 0 or -PVM_Exxx.
 */
long pvm_console_flush(void);

/** Number of console bytes written but not yet drained by the monitor. */
uint64_t pvm_console_pending(void);

/* ---- errors and heap -------------------------------------------------------------- */

/**
 * Name of a hypercall error, e.g. "ENOSYS" for -PVM_ENOSYS or PVM_ENOSYS (the sign is
 * ignored); "E?" for an unknown value, "OK" for 0.
 */
const char *pvm_strerror(long err);

/** Heap statistics (see pvm_heap_stats()). */
struct pvm_heap_stats {
  uint64_t heap_start;   /**< first byte of the heap (boot_info->heap_start, aligned) */
  uint64_t heap_end;     /**< end of the heap (boot_info->heap_end) */
  uint64_t in_use_bytes; /**< bytes in allocated blocks, headers included */
  uint64_t in_use_count; /**< number of allocated blocks */
  uint64_t free_bytes;   /**< bytes in freed blocks waiting for reuse (not the top) */
  uint64_t top_bytes;    /**< never-allocated (or returned) bytes above the last block */
  uint64_t high_water;   /**< highest heap address ever handed out; RAM above is untouched */
};

/** Fill `st` with the current heap statistics. */
void pvm_heap_stats(struct pvm_heap_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVM_H */
