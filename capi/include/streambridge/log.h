/* streambridge/log.h - where the library's diagnostics go.
 *
 * The library logs what must not be lost (a refused oversize window, a reclaimed shared-memory
 * segment, a client closed for a malformed message). By default each message is one line on
 * stderr: "streambridge: <message>". An application routes them into its own log with
 * sb_set_log_callback(). */
#ifndef STREAMBRIDGE_LOG_H
#define STREAMBRIDGE_LOG_H

#include "streambridge/common.h"

SB_BEGIN_DECLS

typedef enum sb_log_level {
    SB_LOG_ERROR = 1,
    SB_LOG_WARNING = 2,
    SB_LOG_INFO = 3,
    SB_LOG_DEBUG = 4
} sb_log_level;

/* level is an sb_log_level; message is one line without a trailing newline, borrowed for the
 * call only. Called from whichever library thread logs (the render thread, server threads), so
 * it must be thread-safe; it must not call sb_set_log_callback. */
typedef void (*sb_log_fn)(int level, const char *message, void *user_data);

/* Sends every later message to fn with user_data; NULL restores the default (stderr, with the
 * "streambridge: " prefix). Any thread: a message is always delivered to a pair that was set
 * together (never one callback with another's user_data). A thread already inside the previous
 * callback finishes that call, so keep user_data alive until no library thread can log with it
 * (e.g. until the streams and servers using it are destroyed). */
SB_API void sb_set_log_callback(sb_log_fn fn, void *user_data);

/* Logs one message (printf format) at level through the current callback, for integrations
 * (the autoload plugin) that want their lines where the library's go. Any thread. */
SB_API void sb_log(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

SB_END_DECLS
#endif /* STREAMBRIDGE_LOG_H */
