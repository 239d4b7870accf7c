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
        s.port = static_cast<int>(value);
    }
    if (const char *bind = NonEmptyEnv("STREAMBRIDGE_BIND"))
        s.bind_address = bind;
    if (const char *token = NonEmptyEnv("STREAMBRIDGE_TOKEN")) {
        s.has_token = true;
        s.token = token;
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
    return s;
}

} // namespace

const AutoloadSettings &GetAutoloadSettings()
{
    static const AutoloadSettings settings = ReadSettings();
    return settings;
}

} // namespace sb
