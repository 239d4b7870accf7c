// autoload_settings.h - private: the plugin's configuration, read once from the environment
// (the autoload plugin's, and the ParaView plugin's overrides of its settings).
//
//   STREAMBRIDGE_DISABLE=1     load the plugin but stream nothing
//   STREAMBRIDGE_PORT          port of the first window (default 8000, 0 = ephemeral); window N
//                              (0-based) gets port + N
//   STREAMBRIDGE_BIND          bind address (default 127.0.0.1)
//   STREAMBRIDGE_TOKEN         access token required by every endpoint (default: none)
//   STREAMBRIDGE_VIEW_TOKEN    a second token whose holders watch, their input refused (needs
//                              STREAMBRIDGE_TOKEN, must differ from it; default: none)
//   STREAMBRIDGE_ALLOWED_ORIGINS  public origins of reverse proxies in front, comma-separated
//                              ("https://hub.example.org"): their Host and Origin are accepted
//   STREAMBRIDGE_SHM           shm name of the first window's ring and queue (default: heap);
//                              window N > 0 gets NAME-N
//   STREAMBRIDGE_ALLOW_EXIT=1  browser input may end the application (VTK's 'q'/'e' keys);
//                              default 0: such requests from the browser are swallowed
//   STREAMBRIDGE_READBACK      sync or async: sb_stream_options.readback (default: the
//                              library's, SB_STREAM_DEFAULT_READBACK)
//   STREAMBRIDGE_RTP=HOST:PORT[:RTCP_PORT]
//                              the first window's video as RTP to a Janus mountpoint
//                              (rtp_host, rtp_port, rtp_rtcp_port; IPv6 as [ADDR]:PORT...)
//   STREAMBRIDGE_RTP_CODEC     h264 (default) or vp8 (rtp_codec)
//   STREAMBRIDGE_JANUS_URL     Janus HTTP API for the page's ?webrtc=1 (rtp_janus_url)
//   STREAMBRIDGE_JANUS_MOUNTPOINT  the mountpoint id it watches (rtp_mountpoint_id, default 1)
//   (docs/webrtc.md; the library checks the values: a bad one fails the stream with its message)
#ifndef SB_AUTOLOAD_SETTINGS_H
#define SB_AUTOLOAD_SETTINGS_H

#include <string>

namespace sb {

struct AutoloadSettings {
    bool enabled = true;
    // has_*: the variable was set. The ParaView plugin (plugin/paraview/) reads these too: there
    // a variable that is set overrides ParaView's own setting of the same thing.
    bool has_port = false;
    int port = 8000;
    bool has_bind_address = false;
    std::string bind_address = "127.0.0.1";
    bool has_token = false;
    std::string token;
    bool has_view_token = false;
    std::string view_token;
    std::string allowed_origins; // empty: only the server's own origin
    bool has_shm_name = false;
    std::string shm_name;
    bool allow_remote_exit = false;
    int readback = 0; // SB_STREAM_READBACK_*; 0 = the library's default
    std::string rtp_host, rtp_codec, janus_url; // "" = unset
    int rtp_port = 0, rtp_rtcp_port = 0, janus_mountpoint = 1;
};

// Reads the environment once (the first call) and returns the same settings after. A malformed
// value is logged (sb_log, where the library's own messages go) and disables streaming rather
// than guessing.
const AutoloadSettings &GetAutoloadSettings();

} // namespace sb

#endif // SB_AUTOLOAD_SETTINGS_H
