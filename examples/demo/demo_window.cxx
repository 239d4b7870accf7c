#include "demo_window.h"

#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkObjectFactory.h>

#include <algorithm>

namespace sbdemo {

namespace {

/* The trackball-camera style moves the camera on pointer events only; but while it holds the
 * focus (a button is down) VTK hands it every timer event, and vtkInteractorStyle::OnTimer()
 * repeats the last pointer delta and renders: the scene would keep turning at the demo's tick
 * rate while the button is held still. */
class DemoStyle : public vtkInteractorStyleTrackballCamera {
public:
    static DemoStyle *New();
    vtkTypeMacro(DemoStyle, vtkInteractorStyleTrackballCamera);
    void OnTimer() override {}
};
vtkStandardNewMacro(DemoStyle);

}  // namespace

/* The one place the demo fills sb_stream_options. */
sb_stream_options StreamOptions(const StreamSettings &s, int width, int height)
{
    sb_stream_options so;
    sb_stream_options_init(&so, SB_STREAM_OPTIONS_VERSION); /* C++17: no designated initializers */
    so.max_width = static_cast<uint32_t>(std::max(width, 1920));
    so.max_height = static_cast<uint32_t>(std::max(height, 1080));
    so.serve = s.serve ? 1 : 0;
    so.server.bind_address = s.bind.c_str();
    so.server.port = s.port;
    so.server.access_token = s.token.empty() ? nullptr : s.token.c_str();
    so.server.allowed_origins = s.allowed_origins.empty() ? nullptr : s.allowed_origins.c_str();
    so.shm_name = s.shm.empty() ? nullptr : s.shm.c_str();
    return so;
}

bool IsSceneName(const std::string &name)
{
    return name == "basic" || name == "network" || name == "science";
}

std::unique_ptr<Scene> MakeScene(const SceneOptions &options)
{
    if (options.name == "network")
        return MakeNetworkScene(options);
    if (options.name == "science")
        return MakeScienceScene();
    if (options.name == "basic")
        return MakeBasicScene();
    return nullptr;
}

DemoWindow::DemoWindow(int width, int height, const std::string &title)
    : width_(width), height_(height), style_(vtkSmartPointer<DemoStyle>::New())
{
    renderer_->GradientBackgroundOn();
    renderer_->SetBackground(0.06, 0.07, 0.10);
    renderer_->SetBackground2(0.20, 0.24, 0.32);
    renderer_->UseFXAAOn();
    window_->SetMultiSamples(0);  /* FXAA instead: a multisampled read-back costs far more */
    window_->SetSize(width, height);
    window_->SetWindowName(title.c_str());
    window_->AddRenderer(renderer_);
    iren_->SetInteractorStyle(style_);
    iren_->SetRenderWindow(window_);
}

DemoWindow::~DemoWindow()
{
    if (scene_)
        scene_->Stop();
    sb_stream_destroy(stream_);
    scene_.reset();
    window_->Finalize();
}

bool DemoWindow::BuildScene(const SceneOptions &options, std::string *error)
{
    scene_ = MakeScene(options);
    if (!scene_) {
        *error = "unknown scene '" + options.name + "'";
        return false;
    }
    if (!scene_->Build(renderer_, error))
        return false;
    renderer_->ResetCamera();
    return true;
}

bool DemoWindow::StartStream(const StreamSettings &settings, std::string *error,
                             sb_server *shared_server, const std::string &stream_name)
{
    iren_->Initialize();
    settings_ = settings;
    sb_stream_options so = StreamOptions(settings_, width_, height_);
    int rc = shared_server ? sb_stream_create_on_server(shared_server, stream_name.c_str(),
                                                        window_, &so, &stream_)
                           : sb_stream_create(window_, &so, &stream_);
    if (rc != SB_OK) {
        *error = sb_last_error();
        stream_ = nullptr;
        return false;
    }
    scene_->AttachInteractor(iren_);
    return true;
}

}  // namespace sbdemo
