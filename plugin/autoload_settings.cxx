// autoload_settings.cxx - the plugin's environment variables (see autoload_settings.h).
#include "autoload_settings.h"

#include <streambridge/log.h>
#include <streambridge/stream.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace sb {

namespace {

const char *NonEmptyEnv(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : nullptr;
}

// "HOST:PORT[:RTCP]" or "[IPV6]:PORT[:RTCP]": the numbers only; ranges are the library's.
bool ParseRtp(const char *v, AutoloadSettings *s)
{
    std::string text(v), rest;
    if (text[0] == '[') {
        size_t close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return false;
        s->rtp_host = text.substr(1, close - 1);
        rest = text.substr(close + 2);
    } else {
        size_t colon = text.find(':');
        if (colon == std::string::npos)
            return false;
        s->rtp_host = text.substr(0, colon);
        rest = text.substr(colon + 1);
    }
    char *end = nullptr;
    errno = 0;
    long port = strtol(rest.c_str(), &end, 10);
    long rtcp = 0;
    if (errno || end == rest.c_str() || port < 0 || port > 65535)
        return false;
    if (*end == ':') {
        const char *r = end + 1;
        rtcp = strtol(r, &end, 10);
        if (errno || end == r || rtcp < 0 || rtcp > 65535)
            return false;
    }
    if (*end)
        return false;
    s->rtp_port = static_cast<int>(port);
    s->rtp_rtcp_port = static_cast<int>(rtcp);
    return true;
}

bool ReadRtpSettings(AutoloadSettings *s)
{
    if (const char *rtp = NonEmptyEnv("STREAMBRIDGE_RTP")) {
        if (!ParseRtp(rtp, s)) {
            sb_log(SB_LOG_ERROR, "STREAMBRIDGE_RTP=\"%s\" is not HOST:PORT[:RTCP_PORT]: not streaming",
                   rtp);
            return false;
        }
    }
    if (const char *codec = NonEmptyEnv("STREAMBRIDGE_RTP_CODEC"))
        s->rtp_codec = codec;
    if (const char *url = NonEmptyEnv("STREAMBRIDGE_JANUS_URL"))
        s->janus_url = url;
    if (const char *mp = NonEmptyEnv("STREAMBRIDGE_JANUS_MOUNTPOINT")) {
        char *end = nullptr;
        errno = 0;
        long id = strtol(mp, &end, 10);
        if (errno || *end || id < 1 || id > 2147483647L) {
            sb_log(SB_LOG_ERROR, "STREAMBRIDGE_JANUS_MOUNTPOINT=\"%s\" is not 1..2147483647: not "
                   "streaming", mp);
            return false;
        }
        s->janus_mountpoint = static_cast<int>(id);
    }
    return true;
}

AutoloadSettings ReadSettings()
{
    AutoloadSettings s;
    if (const char *disable = NonEmptyEnv("STREAMBRIDGE_DISABLE")) {
        if (strcmp(disable, "0") != 0) {
            sb_log(SB_LOG_INFO, "autoload plugin loaded, streaming disabled by STREAMBRIDGE_DISABLE=%s",
                   disable);
            s.enabled = false;
            return s;
        }
    }
    if (const char *port = NonEmptyEnv("STREAMBRIDGE_PORT")) {
        char *end = nullptr;
        errno = 0;
        long value = strtol(port, &end, 10);
        if (errno != 0 || *end != '\0' || value < 0 || value > 65535) {
            sb_log(SB_LOG_ERROR, "STREAMBRIDGE_PORT=\"%s\" is not a port number 0..65535: not streaming",
                   port);
            s.enabled = false;
            return s;
        }
        s.has_port = true;
        s.port = static_cast<int>(value);
    }
    if (const char *bind = NonEmptyEnv("STREAMBRIDGE_BIND")) {
        s.has_bind_address = true;
        s.bind_address = bind;
    }
    if (const char *token = NonEmptyEnv("STREAMBRIDGE_TOKEN")) {
        s.has_token = true;
        s.token = token;
    }
    if (const char *view_token = NonEmptyEnv("STREAMBRIDGE_VIEW_TOKEN")) {
        s.has_view_token = true;
        s.view_token = view_token;
    }
    if (const char *origins = NonEmptyEnv("STREAMBRIDGE_ALLOWED_ORIGINS"))
        s.allowed_origins = origins;
    if (const char *shm = NonEmptyEnv("STREAMBRIDGE_SHM")) {
        s.has_shm_name = true;
        s.shm_name = shm;
    }
    if (const char *allow_exit = NonEmptyEnv("STREAMBRIDGE_ALLOW_EXIT")) {
        if (strcmp(allow_exit, "0") != 0 && strcmp(allow_exit, "1") != 0) {
            sb_log(SB_LOG_ERROR, "STREAMBRIDGE_ALLOW_EXIT=\"%s\" is neither 0 nor 1: not streaming",
                   allow_exit);
            s.enabled = false;
            return s;
        }
        s.allow_remote_exit = allow_exit[0] == '1';
    }
    if (const char *readback = NonEmptyEnv("STREAMBRIDGE_READBACK")) {
        if (strcmp(readback, "sync") == 0) {
            s.readback = SB_STREAM_READBACK_SYNC;
        } else if (strcmp(readback, "async") == 0) {
            s.readback = SB_STREAM_READBACK_ASYNC;
        } else {
            sb_log(SB_LOG_ERROR, "STREAMBRIDGE_READBACK=\"%s\" is neither sync nor async: not "
                   "streaming", readback);
            s.enabled = false;
            return s;
        }
    }
    if (!ReadRtpSettings(&s)) {
        s.enabled = false;
        return s;
    }
    return s;
}

} // namespace

const AutoloadSettings &GetAutoloadSettings()
{
    static const AutoloadSettings settings = ReadSettings();
    return settings;
}

} // namespace sb
