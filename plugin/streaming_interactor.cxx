// streaming_interactor.cxx - see streaming_interactor.h.
#include "streaming_interactor.h"

#include "autoload_settings.h"

#include "streambridge/error.h"
#include "streambridge/log.h"
#include "streambridge/stream.h"

#include <vtkObjectFactory.h>
#include <vtkRenderWindow.h>

#include <atomic>
#include <string>

// Not vtkStandardNewMacro's factory lookup for our own name; a plain new like VTK's own classes.
vtkStandardNewMacro(sbStreamingInteractor);

namespace {

// Windows streamed so far in this process: window N gets port + N (and shm name NAME-N), so two
// windows never fight over one port. Atomic only for safety: VTK creates windows on one thread.
std::atomic<int> windows_streamed{0};

} // namespace

void sbStreamingInteractor::Initialize()
{
    Superclass::Initialize();
    // Superclass::Initialize() fails quietly-ish without a window (it reports a VTK error);
    // Initialized tells us whether there is a live window to stream.
    if (!attach_tried_ && this->Initialized && this->RenderWindow)
        AttachStream();
}

void sbStreamingInteractor::AttachStream()
{
    attach_tried_ = true;
    const sb::AutoloadSettings &settings = sb::GetAutoloadSettings();
    if (!settings.enabled)
        return;

    const int index = windows_streamed.fetch_add(1);
    sb_stream_options o;
    sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION);
    o.serve = 1;
    o.server.bind_address = settings.bind_address.c_str();
    o.server.access_token = settings.has_token ? settings.token.c_str() : nullptr;
    o.server.view_token = settings.has_view_token ? settings.view_token.c_str() : nullptr;
    o.server.allowed_origins =
        settings.allowed_origins.empty() ? nullptr : settings.allowed_origins.c_str();
    o.allow_remote_exit = settings.allow_remote_exit ? 1 : 0;
    if (settings.port == 0) {
        o.server.port = 0;
    } else if (settings.port + index > 65535) {
        sb_log(SB_LOG_ERROR, "not streaming render window %d: port %d + %d is past 65535",
               index + 1, settings.port, index);
        return;
    } else {
        o.server.port = settings.port + index;
    }
    std::string shm_name;
    if (settings.has_shm_name) {
        shm_name = index == 0 ? settings.shm_name : settings.shm_name + "-" + std::to_string(index);
        o.shm_name = shm_name.c_str();
    }

    sb_stream *stream = nullptr;
    if (sb_stream_create(this->RenderWindow, &o, &stream) != SB_OK) {
        sb_log(SB_LOG_ERROR, "not streaming render window %d (%s): %s", index + 1,
               this->RenderWindow->GetClassName(), sb_last_error());
        return;
    }
    stream_ = stream;
    int port = 0;
    sb_server_get_port(sb_stream_server(stream), &port);
    sb_log(SB_LOG_INFO, "streaming render window %d (%s) at http://%s:%d/%s", index + 1,
           this->RenderWindow->GetClassName(), settings.bind_address.c_str(), port,
           settings.has_token ? " (access token required)" : "");
    // Frames are captured at the end of each render; the application may have rendered before
    // Initialize(), so one render now makes a frame available to the first client at once.
    this->RenderWindow->Render();
}

sbStreamingInteractor::~sbStreamingInteractor()
{
    // The stream detaches from the interactor itself when it is deleted (it observes
    // DeleteEvent); what remains here is the server, ring and queue.
    sb_stream_destroy(stream_);
}
