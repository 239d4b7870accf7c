/* options.c - sb_server_options: defaults, the versions accepted, and the ranges, defined once
 * (the table below drives both validation and sb_server_options_init). */
#include "server_options.h"

#include "codec.h"
#include "rtp_packet.h"
#include "sb_error_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Bytes of sb_server_options each version has: a caller built against an older header passes a
 * shorter struct, of which only these bytes may be read. */
size_t sb__server_options_size(unsigned int version)
{
    switch (version) {
    case 1: return offsetof(sb_server_options, max_clients_per_address);
    case 2: return offsetof(sb_server_options, video_codecs);
    case 3: return offsetof(sb_server_options, rtp_host); /* view_token when joined (#13) */
    case 4: return sizeof(sb_server_options);
    default: return 0;
    }
}

/* A numeric option: where it is, its default, its range and what the range message adds. */
typedef struct option_range {
    const char *name;
    size_t offset;
    bool is_double;    /* double (max_fps), else int */
    double def;
    double min, max;
    bool min_excluded; /* (min, max] */
    const char *note;  /* "" or the meaning of a special value */
} option_range;

#define INT_OPTION(field, def, lo, hi, note) \
    {#field, offsetof(sb_server_options, field), false, def, lo, hi, false, note}

static const option_range ranges[] = {
    INT_OPTION(port, SB_SERVER_DEFAULT_PORT, 0, 65535, " (0 = ephemeral)"),
    INT_OPTION(jpeg_quality_interactive, SB_SERVER_DEFAULT_JPEG_QUALITY_INTERACTIVE, 1, 100, ""),
    INT_OPTION(jpeg_quality_still, SB_SERVER_DEFAULT_JPEG_QUALITY_STILL, 1, 100, ""),
    INT_OPTION(still_delay_ms, SB_SERVER_DEFAULT_STILL_DELAY_MS, 0, 60000, ""),
    {"max_fps", offsetof(sb_server_options, max_fps), true, SB_SERVER_DEFAULT_MAX_FPS, 0.0, 1000.0,
     true, ""},
    INT_OPTION(max_clients, SB_SERVER_DEFAULT_MAX_CLIENTS, 1, 1024, ""),
    INT_OPTION(max_message_bytes, SB_SERVER_DEFAULT_MAX_MESSAGE_BYTES, 128, 1048576, ""),
    INT_OPTION(max_events_per_second, SB_SERVER_DEFAULT_MAX_EVENTS_PER_SECOND, 1, 100000, ""),
    INT_OPTION(num_threads, SB_SERVER_DEFAULT_NUM_THREADS, 0, 2048, " (0 = max_clients + 8)"),
    INT_OPTION(send_timeout_ms, SB_SERVER_DEFAULT_SEND_TIMEOUT_MS, 100, 600000, ""),
    INT_OPTION(max_clients_per_address, SB_SERVER_DEFAULT_MAX_CLIENTS_PER_ADDRESS, 0, 1024,
               " (0 = no cap)"),
    INT_OPTION(ack_timeout_ms, SB_SERVER_DEFAULT_ACK_TIMEOUT_MS, 100, 3600000, ""),
    INT_OPTION(video_crf, SB_SERVER_DEFAULT_VIDEO_CRF, -1, 63, " (-1 = the codec's default)"),
    INT_OPTION(video_max_kbps, SB_SERVER_DEFAULT_VIDEO_MAX_KBPS, 0, 1000000, " (0 = no cap)"),
    INT_OPTION(keyframe_min_interval_ms, SB_SERVER_DEFAULT_KEYFRAME_MIN_INTERVAL_MS, 0, 60000,
               ""),
    INT_OPTION(keyframe_interval_ms, SB_SERVER_DEFAULT_KEYFRAME_INTERVAL_MS, 0, 3600000,
               " (0 = only on demand)"),
    INT_OPTION(rtp_port, SB_SERVER_DEFAULT_RTP_PORT, 0, 65535, " (0 = none; required with rtp_host)"),
    INT_OPTION(rtp_rtcp_port, SB_SERVER_DEFAULT_RTP_RTCP_PORT, 0, 65535, " (0 = no RTCP)"),
    INT_OPTION(rtp_payload_type, SB_SERVER_DEFAULT_RTP_PAYLOAD_TYPE, 96, 127,
               " (the dynamic payload types)"),
    INT_OPTION(rtp_mtu, SB_SERVER_DEFAULT_RTP_MTU, SB_RTP_MIN_MTU, SB_RTP_MAX_MTU, ""),
    INT_OPTION(rtp_keyframe_interval_ms, SB_SERVER_DEFAULT_RTP_KEYFRAME_INTERVAL_MS, 0, 600000,
               " (0 = only when the gateway asks)"),
    INT_OPTION(rtp_mountpoint_id, SB_SERVER_DEFAULT_RTP_MOUNTPOINT_ID, 1, 2147483647, ""),
};
#define RANGE_COUNT (sizeof ranges / sizeof ranges[0])

#define MAX_ALLOWED_ORIGINS 4096
#define MAX_VIDEO_CODECS 64
#define MAX_TOKEN 256
#define MAX_JANUS_URL 512

static bool in_range(const option_range *r, double v)
{
    /* Written so that NaN is outside. */
    return (r->min_excluded ? v > r->min : v >= r->min) && v <= r->max;
}

static int check_range(const option_range *r, const sb_server_options *o, const char *func)
{
    const char *field = (const char *)o + r->offset;
    if (r->is_double) {
        double v;
        memcpy(&v, field, sizeof v);
        if (in_range(r, v))
            return SB_OK;
        return sb__set_error(SB_EINVAL, func, "%s %g is outside %s%g, %g]%s", r->name, v,
                             r->min_excluded ? "(" : "[", r->min, r->max, r->note);
    }
    int v;
    memcpy(&v, field, sizeof v);
    if (in_range(r, v))
        return SB_OK;
    return sb__set_error(SB_EINVAL, func, "%s %d is outside %d..%d%s", r->name, v, (int)r->min,
                         (int)r->max, r->note);
}

static void set_default(const option_range *r, sb_server_options *o)
{
    char *field = (char *)o + r->offset;
    if (r->is_double) {
        double v = r->def;
        memcpy(field, &v, sizeof v);
    } else {
        int v = (int)r->def;
        memcpy(field, &v, sizeof v);
    }
}

/* Every field's default (the current version). */
static void defaults(sb_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->version = SB_SERVER_OPTIONS_VERSION;
    o->bind_address = SB_SERVER_DEFAULT_BIND_ADDRESS;
    o->video_codecs = SB_SERVER_DEFAULT_VIDEO_CODECS;
    o->default_codec = SB_SERVER_DEFAULT_DEFAULT_CODEC;
    o->rtp_host = SB_SERVER_DEFAULT_RTP_HOST;
    o->rtp_codec = SB_SERVER_DEFAULT_RTP_CODEC;
    o->rtp_janus_url = SB_SERVER_DEFAULT_RTP_JANUS_URL;
    for (size_t i = 0; i < RANGE_COUNT; i++)
        set_default(&ranges[i], o);
}

int sb_server_options_init(sb_server_options *opts, unsigned int version)
{
    if (!opts)
        return SB_FAIL(SB_EINVAL, "opts is NULL");
    size_t size = sb__server_options_size(version);
    if (size == 0)
        return SB_FAIL(SB_EVERSION, "options version %u is not 1..%d", version,
                       SB_SERVER_OPTIONS_VERSION);
    sb_server_options full;
    defaults(&full);
    memcpy(opts, &full, size);
    opts->version = version;
    return SB_OK;
}

static bool valid_bind_address(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 45)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
              ch == '.' || ch == ':'))
            return false;
    }
    return true;
}

static bool valid_token(const char *s)
{
    size_t n = strlen(s);
    if (n > MAX_TOKEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        /* Unreserved URL characters only: the token travels in URLs, cookies and headers. */
        char ch = s[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-' || ch == '_' || ch == '.' || ch == '~'))
            return false;
    }
    return true;
}

/* The codec set of a video_codecs list (SB_CODEC_BIT each; JPEG always in), 0 when an entry is
 * not a codec name. NULL/"" = every codec (the build's availability is checked apart). */
static unsigned codec_list_bits(const char *list)
{
    if (!list || !*list)
        return SB_CODEC_ALL_BITS;
    unsigned bits = SB_CODEC_BIT(SB_CODEC_JPEG);
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        int id = sb__codec_by_name(p, n);
        if (id < 0)
            return 0;
        bits |= SB_CODEC_BIT(id);
        if (!p[n])
            return bits;
        p += n + 1;
    }
}

unsigned sb__server_allowed_codecs(const sb_server_options *o)
{
    return codec_list_bits(o->video_codecs);
}

int sb__server_default_codec(const sb_server_options *o)
{
    const char *d = o->default_codec;
    return d && *d ? sb__codec_by_name(d, strlen(d)) : SB_CODEC_JPEG;
}

/* video_codecs and default_codec: known names, the default among the allowed. */
static int check_codecs(const sb_server_options *o, const char *func)
{
    if (o->video_codecs &&
        (strlen(o->video_codecs) > MAX_VIDEO_CODECS || codec_list_bits(o->video_codecs) == 0))
        return sb__set_error(SB_EINVAL, func, "video_codecs \"%.64s\" is not a comma-separated "
                             "list of jpeg, h264, vp8", o->video_codecs);
    int def = sb__server_default_codec(o);
    if (def < 0)
        return sb__set_error(SB_EINVAL, func, "default_codec \"%.16s\" is not jpeg, h264 or vp8",
                             o->default_codec);
    if (!(sb__server_allowed_codecs(o) & SB_CODEC_BIT(def)))
        return sb__set_error(SB_EINVAL, func, "default_codec %s is not in video_codecs \"%s\"",
                             sb__codec_name(def), o->video_codecs);
    return SB_OK;
}

/* rtp_janus_url: it reaches the page inside JSON and is fetched by it, so a plain URL only:
 * http(s)://... or a same-origin absolute path, printable ASCII without quotes, backslashes,
 * angle brackets or spaces. */
static bool valid_janus_url(const char *s)
{
    size_t n = strlen(s);
    if (n > MAX_JANUS_URL ||
        !(strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0 || s[0] == '/'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch >= 0x7f || ch == '"' || ch == '\\' || ch == '<' || ch == '>')
            return false;
    }
    return true;
}

/* The rtp_* strings and what depends on them: a numeric host with a port, a codec with RTP
 * packetization. */
static int check_rtp(const sb_server_options *o, const char *func)
{
    if (o->rtp_codec && *o->rtp_codec) {
        int id = sb__codec_by_name(o->rtp_codec, strlen(o->rtp_codec));
        if (id != SB_CODEC_H264 && id != SB_CODEC_VP8)
            return sb__set_error(SB_EINVAL, func, "rtp_codec \"%.16s\" is not h264 or vp8",
                                 o->rtp_codec);
    }
    if (o->rtp_janus_url && *o->rtp_janus_url && !valid_janus_url(o->rtp_janus_url))
        return sb__set_error(SB_EINVAL, func, "rtp_janus_url must be an http(s):// URL or a path "
                             "starting with /, at most %d printable characters without quotes, "
                             "spaces, backslashes or angle brackets", MAX_JANUS_URL);
    if (!o->rtp_host || !*o->rtp_host)
        return SB_OK;
    if (!valid_bind_address(o->rtp_host))
        return sb__set_error(SB_EINVAL, func, "rtp_host \"%.64s\" is not a numeric IPv4/IPv6 "
                             "address", o->rtp_host);
    if (o->rtp_port == 0)
        return sb__set_error(SB_EINVAL, func, "rtp_host %s needs rtp_port (the mountpoint's "
                             "videoport, 1..65535)", o->rtp_host);
    return SB_OK;
}

/* The string options, which have formats rather than ranges. */
static int check_strings(const sb_server_options *o, const char *func)
{
    if (o->bind_address && !valid_bind_address(o->bind_address))
        return sb__set_error(SB_EINVAL, func,
                             "bind_address \"%.64s\" is not a numeric IPv4/IPv6 address",
                             o->bind_address);
    if (o->access_token && !valid_token(o->access_token))
        return sb__set_error(SB_EINVAL, func, "access_token must be at most %d characters of "
                             "[A-Za-z0-9-_.~]", MAX_TOKEN);
    if (o->allowed_origins && strlen(o->allowed_origins) > MAX_ALLOWED_ORIGINS)
        return sb__set_error(SB_EINVAL, func, "allowed_origins is longer than %d characters",
                             MAX_ALLOWED_ORIGINS);
    int rc = check_codecs(o, func);
    return rc == SB_OK ? check_rtp(o, func) : rc;
}

/* Checks a complete current-version struct. */
static int check_full(const sb_server_options *o, const char *func)
{
    int rc = check_strings(o, func);
    for (size_t i = 0; rc == SB_OK && i < RANGE_COUNT; i++)
        rc = check_range(&ranges[i], o, func);
    return rc;
}

int sb__server_options_complete(const sb_server_options *o, const char *func,
                                sb_server_options *full)
{
    defaults(full);
    if (!o)
        return SB_OK;
    size_t size = sb__server_options_size(o->version);
    if (size == 0)
        return sb__set_error(SB_EVERSION, func, "options version %u is not 1..%d (use "
                             "SB_SERVER_OPTIONS_INIT or sb_server_options_init)", o->version,
                             SB_SERVER_OPTIONS_VERSION);
    memcpy(full, o, size);
    full->version = SB_SERVER_OPTIONS_VERSION;
    return check_full(full, func);
}

int sb__server_options_check(const sb_server_options *o, const char *func)
{
    sb_server_options full;
    return sb__server_options_complete(o, func, &full);
}
