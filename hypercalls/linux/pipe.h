/* Linux pipes as rings in shared regions (pipe.c; design in docs/architecture.md). */
#ifndef PVM_LINUX_PIPE_H
#define PVM_LINUX_PIPE_H

#include <stdint.h>

#define PIPE_BUF_L 4096  /* writes up to this size are not interleaved with others */

long pipe_create(void);                         /* a region with one reader, one writer: its slot */
int pipe_is_pipe(uint32_t slot);                /* a region of ours holds a pipe */
void pipe_ref(uint32_t slot, uint64_t id, int readers, int writers);  /* adjust id's ends */
void pipe_move_refs(uint32_t slot, uint64_t from, uint64_t to, int readers, int writers);
void pipe_forget(uint32_t slot, uint64_t id);   /* drop every end id held (it died) */
long pipe_read(uint32_t slot, void *buf, uint64_t len, int nonblock);
long pipe_write(uint32_t slot, const void *buf, uint64_t len, int nonblock);
/* poll: readable 1 (data), 2 (empty, no writer left) or 0; writable: room for PIPE_BUF. */
int pipe_readable(uint32_t slot);
int pipe_writable(uint32_t slot);
int pipe_no_readers(uint32_t slot);

#endif
