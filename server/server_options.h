/* server_options.h - the one validation of sb_server_options (options.c): used by
 * sb_server_create, by capi/src/stream.cxx (a stream with serve=1 fails at sb_stream_create with
 * the server's own message) and by streambridge-server (main.c) before it attaches a stream.
 * Not installed. */
#ifndef SB_SERVER_OPTIONS_H
#define SB_SERVER_OPTIONS_H

#include "streambridge/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of sb_server_options that options of this version have (0: a version this library does
 * not know). A struct embedding sb_server_options last (sb_stream_options) uses it to know how
 * much of the caller's struct exists. */
size_t sb__server_options_size(unsigned int version);

/* SB_OK when o (any accepted version; its missing fields take their defaults) would be accepted
 * by sb_server_create; otherwise SB_EVERSION or SB_EINVAL with the error set as func's. */
int sb__server_options_check(const sb_server_options *o, const char *func);

/* The caller's options of any accepted version completed with the defaults of the fields its
 * version lacks (full->version = SB_SERVER_OPTIONS_VERSION), then checked; o NULL = defaults.
 * Errors as sb__server_options_check. Strings are the caller's (not copied). */
int sb__server_options_complete(const sb_server_options *o, const char *func,
                                sb_server_options *full);

/* Of complete, valid options: the codecs clients may ask for (SB_CODEC_BIT(id) each, JPEG
 * always in; codec.h) and the default codec's id. */
unsigned sb__server_allowed_codecs(const sb_server_options *o);
int sb__server_default_codec(const sb_server_options *o);

#ifdef __cplusplus
}
#endif

#endif /* SB_SERVER_OPTIONS_H */
