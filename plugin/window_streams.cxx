// window_streams.cxx - see window_streams.h.
#include "window_streams.h"

#include "autoload_settings.h"
#include "streaming_interactor.h"

#include "streambridge/error.h"
#include "streambridge/log.h"
#include "streambridge/stream.h"

#include <vtkCallbackCommand.h>
#include <vtkCommand.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>

#include <map>
#include <string>

namespace sb {
namespace {

struct WindowEntry {
    sb_stream *stream = nullptr; // nullptr: tried, not streamed (logged)
    std::string name;
    unsigned long delete_tag = 0;
    int number = 0;              // 1-based, in the order windows were first seen
    bool replay_on_render = false; // no interactor of the app's: input replays at each Render()
};

struct Registry {
    sb_server *server = nullptr;
    int port = 0;
    int windows_seen = 0;
    bool default_taken = false;  // the default stream was given out (once per server)
    std::map<vtkRenderWindow *, WindowEntry> windows;

    // The plugin is unloaded at exit (VTK's factory cleanup). A window the application never
    // released still streams then: its server's threads must stop before this code goes away
    // (the streams themselves stay: their windows are still alive).
    ~Registry()
    {
        if (server)
            sb_server_destroy(server);
    }
};

Registry &TheRegistry()
{
    static Registry registry;
    return registry;
}

// VTK's own default titles say nothing about the window: such windows are "window-N".
bool IsDefaultTitle(const char *title)
{
    return !title || !*title || std::string(title).rfind("Visualization Toolkit", 0) == 0;
}

// A stream name (server.h: 1..64 of [A-Za-z0-9._-]) from the window's title, unique on the
// server; "window-N" when the title says nothing.
std::string StreamNameFor(vtkRenderWindow *window, int number)
{
    Registry &r = TheRegistry();
    if (!r.default_taken)
        return SB_SERVER_DEFAULT_STREAM_NAME;
    std::string name;
    const char *title = window->GetWindowName();
    if (!IsDefaultTitle(title)) {
        for (const char *p = title; *p && name.size() < 48; p++) {
            char ch = *p;
            bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
            if (ok)
                name += ch;
            else if (!name.empty() && name.back() != '-')
                name += '-';
        }
        while (!name.empty() && (name.back() == '-' || name.back() == '.'))
            name.pop_back();
        while (!name.empty() && name.front() == '.')
            name.erase(0, 1);
    }
    if (name.empty() || name == SB_SERVER_DEFAULT_STREAM_NAME)
        name = "window-" + std::to_string(number);
    std::string unique = name;
    for (int k = 2;; k++) {
        bool taken = false;
        for (const auto &entry : r.windows)
            taken = taken || (entry.second.stream && entry.second.name == unique);
        if (!taken)
            return unique;
        unique = name + "-" + std::to_string(k);
    }
}

// The plugin's server, started at the first window. nullptr (logged) when it cannot start.
sb_server *Server()
{
    Registry &r = TheRegistry();
    if (r.server)
        return r.server;
    const AutoloadSettings &settings = GetAutoloadSettings();
    sb_server_options o;
    sb_server_options_init(&o, SB_SERVER_OPTIONS_VERSION);
    o.port = settings.port;
    o.bind_address = settings.bind_address.c_str();
    o.access_token = settings.has_token ? settings.token.c_str() : nullptr;
    o.view_token = settings.has_view_token ? settings.view_token.c_str() : nullptr;
    o.allowed_origins = settings.allowed_origins.empty() ? nullptr : settings.allowed_origins.c_str();
    // STREAMBRIDGE_RTP & co. (docs/webrtc.md): the default stream (the first window) to Janus.
    if (!settings.rtp_host.empty()) {
        o.rtp_host = settings.rtp_host.c_str();
        o.rtp_port = settings.rtp_port;
        o.rtp_rtcp_port = settings.rtp_rtcp_port;
    }
    if (!settings.rtp_codec.empty())
        o.rtp_codec = settings.rtp_codec.c_str();
    if (!settings.janus_url.empty())
        o.rtp_janus_url = settings.janus_url.c_str();
    o.rtp_mountpoint_id = settings.janus_mountpoint;
    if (sb_server_create(nullptr, nullptr, &o, &r.server) != SB_OK) {
        r.server = nullptr;
        return nullptr;
    }
    sb_server_get_port(r.server, &r.port);
    r.default_taken = false;
    return r.server;
}

void OnWindowDeleted(vtkObject *caller, unsigned long, void *, void *)
{
    StopStreamingWindow(static_cast<vtkRenderWindow *>(caller));
    // Forget the window: its address may come back as another window.
    Registry &r = TheRegistry();
    auto it = r.windows.find(static_cast<vtkRenderWindow *>(caller));
    if (it != r.windows.end())
        r.windows.erase(it);
}

void LogNotStreaming(int number, vtkRenderWindow *window, const char *why)
{
    sb_log(SB_LOG_ERROR, "not streaming render window %d (%s): %s", number,
           window->GetClassName(), why);
}

} // namespace

bool StreamWindow(vtkRenderWindow *window)
{
    const AutoloadSettings &settings = GetAutoloadSettings();
    Registry &r = TheRegistry();
    if (!window || !settings.enabled)
        return false;
    auto found = r.windows.find(window);
    if (found != r.windows.end())
        return found->second.stream != nullptr;

    WindowEntry &entry = r.windows[window];
    entry.number = ++r.windows_seen;
    vtkNew<vtkCallbackCommand> on_delete;
    on_delete->SetCallback(OnWindowDeleted);
    entry.delete_tag = window->AddObserver(vtkCommand::DeleteEvent, on_delete);

    sb_server *server = Server();
    if (!server) {
        LogNotStreaming(entry.number, window, sb_last_error());
        return false;
    }
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.allow_remote_exit = settings.allow_remote_exit ? 1 : 0;
    if (settings.readback != 0)
        o.readback = settings.readback;
    // STREAMBRIDGE_SHM: the first window's ring is NAME, window N's NAME-N (for an external
    // streambridge-server; the plugin's own server reads them in process either way).
    std::string shm_name;
    if (settings.has_shm_name) {
        shm_name = entry.number == 1 ? settings.shm_name
                                     : settings.shm_name + "-" + std::to_string(entry.number);
        o.shm_name = shm_name.c_str();
    }
    std::string name = StreamNameFor(window, entry.number);
    sb_stream *stream = nullptr;
    // No interactor: the stream makes its own, which no event loop drives.
    entry.replay_on_render = window->GetInteractor() == nullptr;
    if (sb_stream_create_on_server(server, name.c_str(), window, &o, &stream) != SB_OK) {
        LogNotStreaming(entry.number, window, sb_last_error());
        return false;
    }
    entry.stream = stream;
    entry.name = name;
    if (name == SB_SERVER_DEFAULT_STREAM_NAME)
        r.default_taken = true;
    const char *token_note = settings.has_token ? " (access token required)" : "";
    if (name == SB_SERVER_DEFAULT_STREAM_NAME)
        sb_log(SB_LOG_INFO, "streaming render window %d (%s) at http://%s:%d/%s", entry.number,
               window->GetClassName(), settings.bind_address.c_str(), r.port, token_note);
    else
        sb_log(SB_LOG_INFO,
               "streaming render window %d (%s) at http://%s:%d/v/%s/ (stream \"%s\"; every "
               "stream: http://%s:%d/)%s",
               entry.number, window->GetClassName(), settings.bind_address.c_str(), r.port,
               name.c_str(), name.c_str(), settings.bind_address.c_str(), r.port, token_note);
    // Frames are captured at the end of each render; the window may have rendered before, so
    // one render now makes a frame available to the first viewer at once.
    window->Render();
    return true;
}

void StopStreamingWindow(vtkRenderWindow *window)
{
    Registry &r = TheRegistry();
    auto it = r.windows.find(window);
    if (it == r.windows.end() || !it->second.stream)
        return;
    sb_stream_destroy(it->second.stream);
    it->second.stream = nullptr;
    it->second.name.clear();
    bool any = false;
    for (const auto &entry : r.windows)
        any = any || entry.second.stream != nullptr;
    if (!any && r.server) {
        sb_server_destroy(r.server);
        r.server = nullptr;
        r.port = 0;
    }
}

void ReplayQueuedInput(vtkRenderWindow *window)
{
    Registry &r = TheRegistry();
    auto it = r.windows.find(window);
    if (it == r.windows.end() || !it->second.stream || !it->second.replay_on_render)
        return;
    // Renders once itself when the input changed something (the caller's guard keeps that
    // render from coming back here).
    if (sb_stream_pump(it->second.stream, 0) < 0)
        sb_log(SB_LOG_ERROR, "render window %d: replaying viewer input failed: %s",
               it->second.number, sb_last_error());
}

bool StreamHoldsLastReference(vtkRenderWindow *window)
{
    Registry &r = TheRegistry();
    auto it = r.windows.find(window);
    return it != r.windows.end() && it->second.stream && it->second.replay_on_render;
}

void WindowRenderedFirstTime(vtkRenderWindow *window)
{
    vtkRenderWindowInteractor *iren = window->GetInteractor();
    // The plugin's own interactor streams the window at its Initialize() (interactive apps
    // render once before they start the interactor).
    if (iren && iren->IsA("sbStreamingInteractor") && !iren->GetInitialized())
        return;
    StreamWindow(window);
}

} // namespace sb
