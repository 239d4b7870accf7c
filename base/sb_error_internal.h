/* sb_error_internal.h - private: how library code records an error (used by capi/, bridge/,
 * server/). Not installed. */
#ifndef SB_ERROR_INTERNAL_H
#define SB_ERROR_INTERNAL_H

#include "streambridge/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stores "func(): <formatted text>" as the calling thread's last error and returns code, so a
 * failing path reads `return SB_FAIL(SB_EINVAL, "width %u is 0", w);`. */
int sb__set_error(int code, const char *func, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#define SB_FAIL(code, ...) sb__set_error((code), __func__, __VA_ARGS__)

/* Logs one message at SB_LOG_WARNING through the log sink of streambridge/log.h (default: one
 * stderr line with the "streambridge: " prefix): library diagnostics that must not be lost,
 * e.g. a refused oversize window, a client closed for a malformed message. Any thread. */
void sb__log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The same at an explicit sb_log_level. */
void sb__log_at(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif /* SB_ERROR_INTERNAL_H */
