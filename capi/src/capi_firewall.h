/* capi_firewall.h - private: the one exception firewall for every C entry point backed by C++,
 * and the wrap()/unwrap() conversions between the opaque sb_stream handle and its C++ state.
 *
 * No C++ exception may cross the C ABI: every body runs inside sb::firewall(), which maps
 * std::bad_alloc -> SB_ENOMEM, std::exception -> SB_EINTERNAL (with what()), anything else ->
 * SB_EINTERNAL, always with the public function's name in sb_last_error(). */
#ifndef SB_CAPI_FIREWALL_H
#define SB_CAPI_FIREWALL_H

#include "sb_error_internal.h"
#include "streambridge/stream.h"

#include <exception>
#include <new>
#include <type_traits>

namespace sb {

class Stream; /* the C++ state behind sb_stream (stream.cxx) */

/* What a failed entry point returns: the error code for int functions, a value-initialised
 * result (NULL) for pointer functions, nothing for void ones. */
template <typename Result>
Result failed_result(int code) noexcept
{
    if constexpr (std::is_same_v<Result, int>)
        return code;
    else if constexpr (std::is_void_v<Result>)
        (void)code;
    else {
        (void)code;
        return Result{};
    }
}

/* Runs body() and returns its result; on an exception, records the mapped error with func (the
 * public function's name) as prefix and returns failed_result(code). */
template <typename Body>
auto firewall(const char *func, Body &&body) noexcept -> decltype(body())
{
    using Result = decltype(body());
    try {
        return body();
    } catch (const std::bad_alloc &) {
        return failed_result<Result>(sb__set_error(SB_ENOMEM, func, "out of memory"));
    } catch (const std::exception &e) {
        return failed_result<Result>(sb__set_error(SB_EINTERNAL, func, "%s", e.what()));
    } catch (...) {
        return failed_result<Result>(sb__set_error(SB_EINTERNAL, func, "unknown C++ exception"));
    }
}

/* The only casts between the public handle and its implementation. */
inline sb_stream *wrap(Stream *s) noexcept
{
    return reinterpret_cast<sb_stream *>(s);
}
inline Stream *unwrap(sb_stream *s) noexcept
{
    return reinterpret_cast<Stream *>(s);
}
inline const Stream *unwrap(const sb_stream *s) noexcept
{
    return reinterpret_cast<const Stream *>(s);
}

} // namespace sb

#endif /* SB_CAPI_FIREWALL_H */
