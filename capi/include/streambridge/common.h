/* streambridge/common.h - export macro and basic includes shared by every public header.
 *
 * Threading rule for the whole API: handles are not thread-safe unless a function's
 * comment names the threads that may call it. */
#ifndef STREAMBRIDGE_COMMON_H
#define STREAMBRIDGE_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(SB_BUILDING_LIBRARY)
#    define SB_API __declspec(dllexport)
#  else
#    define SB_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define SB_API __attribute__((visibility("default")))
#else
#  define SB_API
#endif

#ifdef __cplusplus
#  define SB_BEGIN_DECLS extern "C" {
#  define SB_END_DECLS }
#else
#  define SB_BEGIN_DECLS
#  define SB_END_DECLS
#endif

/* Marks a name kept for one release after it was replaced (CHANGELOG.md says by what). */
#if defined(__GNUC__)
#  define SB_DEPRECATED(replacement) __attribute__((deprecated("use " replacement)))
#else
#  define SB_DEPRECATED(replacement)
#endif

/* The largest frame width or height anywhere: ring capacity, resize requests, wire sizes. */
#define SB_MAX_FRAME_SIDE 16384

#endif /* STREAMBRIDGE_COMMON_H */
