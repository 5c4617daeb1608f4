/* Channels the host gives a running pVM (pvm_channel_accept) and closing channels. */
#include <pvm.h>

/* Slots this guest knows about: made by its own forks, or accepted already. A forked
 * copy inherits the array but not the channels: it starts afresh (owner != its id). */
static uint8_t seen[PVM_CHANNEL_SLOTS];
static uint64_t owner;

static void check_owner(void)
{
  if (owner == pvm_id())
    return;
  for (uint32_t s = 0; s < PVM_CHANNEL_SLOTS; s++)
    seen[s] = 0;
  owner = pvm_id();
}

void pvm_channel_forked(long fork_result, const uint32_t *channel_out)
{
  check_owner();
  if (fork_result == 0) {
    uint32_t slot = pvm_fork_channel(); /* the child: its channel to the parent */
    if (slot < PVM_CHANNEL_SLOTS)
      seen[slot] = 1;
    return;
  }
  /* The parent: exactly the slot the monitor wrote, never "a channel whose peer is the
   * child" -- the host may have handed this pVM a channel to the child already (its
   * Attach served right after FORK returned), and that one is for pvm_channel_accept(). */
  if (fork_result > 0 && channel_out && *channel_out < PVM_CHANNEL_SLOTS)
    seen[*channel_out] = 1;
}

static long find_new(uint32_t state, uint64_t *peer_id)
{
  check_owner();
  for (uint32_t s = 0; s < PVM_CHANNEL_SLOTS; s++) {
    const volatile struct pvm_channel_entry *e = pvm_channel_table_entry(s);
    if (!e || e->state != state || seen[s])
      continue;
    seen[s] = 1;
    if (peer_id)
      *peer_id = e->peer_id;
    return (long)s;
  }
  return -PVM_EAGAIN;
}

static long accept(uint32_t state, uint64_t *peer_id, uint64_t timeout_ns)
{
  uint64_t deadline = timeout_ns == ~0ULL ? ~0ULL : pvm_time_ns() + timeout_ns;
  for (;;) {
    long slot = find_new(state, peer_id);
    if (slot >= 0 || timeout_ns == 0)
      return slot;
    uint64_t now = deadline == ~0ULL ? 0 : pvm_time_ns();
    if (deadline != ~0ULL && now >= deadline)
      return -PVM_ETIMEDOUT;
    /* The host's Attach request wakes a WAIT with no channels. */
    long w = pvm_wait(0, 0, deadline == ~0ULL ? ~0ULL : deadline - now);
    if (w == -PVM_EINTR && !pvm_restart_after_eintr())
      return w;
  }
}

long pvm_channel_accept(uint64_t *peer_id, uint64_t timeout_ns)
{
  return accept(PVM_CHANNEL_STATE_OPEN, peer_id, timeout_ns);
}

long pvm_shm_accept(uint64_t timeout_ns) { return accept(PVM_CHANNEL_STATE_SHM, 0, timeout_ns); }

long pvm_channel_close(uint32_t slot)
{
  long r = pvm_hypercall1(PVM_HC_CLOSE, (long)slot);
  if (r == 0 && slot < PVM_CHANNEL_SLOTS) {
    seen[slot] = 0;
    pvm_pipe_forget(slot); /* a later channel in this slot starts clean */
  }
  return r;
}
