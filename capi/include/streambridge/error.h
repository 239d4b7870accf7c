/* streambridge/error.h - error codes, their names and texts, and the thread-local last error.
 *
 * Fallible calls return int: SB_OK (0) or a negative SB_E... code. The detail of the most recent
 * failure on the calling thread is read with sb_last_error(), prefixed with the function name
 * ("sb_frame_ring_publish(): frame 4000x3000 exceeds capacity 1920x1080"). */
#ifndef STREAMBRIDGE_ERROR_H
#define STREAMBRIDGE_ERROR_H

#include "streambridge/common.h"

/* The single table: the enum, sb_err_name() and sb_strerror() are all generated from it. */
#define SB_ERRNO_MAP(X)                                                              \
    X(OK, 0, "success")                                                              \
    X(EINVAL, -1, "invalid argument")                                                \
    X(ENOMEM, -2, "out of memory")                                                   \
    X(ETOOBIG, -3, "frame larger than the ring's capacity")                          \
    X(ETIMEDOUT, -4, "timed out")                                                    \
    X(EAGAIN, -5, "nothing available yet")                                           \
    X(EEXIST, -6, "shared-memory segment held by a live process")                    \
    X(ENOENT, -7, "no such shared-memory segment")                                   \
    X(EBADSEG, -8, "foreign, truncated or incompatible shared-memory segment")       \
    X(EVERSION, -9, "unsupported options struct version")                            \
    X(ESTALE, -10, "frame was overwritten while it was read")                        \
    X(EFULL, -11, "queue full, event dropped")                                       \
    X(EGONE, -12, "the producer process is gone")                                    \
    X(EIO, -13, "system call failed")                                                \
    X(ENET, -14, "network or server error")                                          \
    X(EVTK, -15, "VTK reported an error")                                            \
    X(ESTATE, -16, "operation not valid in the current state")                       \
    X(EINTERNAL, -17, "internal error")                                              \
    X(EWOKEN, -18, "woken before the awaited condition held")

SB_BEGIN_DECLS

typedef enum sb_error {
#define SB__ERR_ENUM(name, value, text) SB_##name = (value),
    SB_ERRNO_MAP(SB__ERR_ENUM)
#undef SB__ERR_ENUM
    SB__ERR_LAST = -19
} sb_error;

/* Human text for a code ("invalid argument"). Static string, never NULL; unknown codes give
 * "unknown error". Any thread. */
SB_API const char *sb_strerror(int err);
/* Symbolic name for a code ("SB_EINVAL"). Static string, never NULL. Any thread. */
SB_API const char *sb_err_name(int err);
/* Detail of the last failure on the calling thread. Never NULL ("" when none). The string is
 * owned by the library and valid until the next streambridge call on this thread. */
SB_API const char *sb_last_error(void);
/* Clears the calling thread's last error. */
SB_API void sb_clear_error(void);

SB_END_DECLS
#endif /* STREAMBRIDGE_ERROR_H */
