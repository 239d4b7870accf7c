/* demo_window.h - a demo scene in a VTK window with the demo's interactor style, streamed through
 * the public C API. streambridge-demo serves it; tests/scenes/test_scene_selftest.cxx drives it,
 * so the test exercises the demo's own setup (window, style, stream options), not a copy of it. */
#ifndef SB_DEMO_WINDOW_H
#define SB_DEMO_WINDOW_H

#include "scene.h"

#include "streambridge/streambridge.h"

#include <vtkNew.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>

#include <memory>
#include <string>

class vtkInteractorStyle;

namespace sbdemo {

struct StreamSettings {
    bool serve = true;               /* start the built-in web server */
    std::string bind = "127.0.0.1";
    int port = 8000;                 /* 0: any free port (sb_server_get_port tells which) */
    std::string token;               /* empty: no access token */
    std::string allowed_origins;     /* public origins of proxies in front (comma-separated) */
    std::string shm;                 /* empty: ring and queue in process memory */
};

/* The demo's stream options for settings and a window of that size (its .server: the options of
 * a server of its own, or of the shared server of several scenes). */
sb_stream_options StreamOptions(const StreamSettings &settings, int width, int height);

class DemoWindow {
public:
    DemoWindow(int width, int height, const std::string &title);
    /* Stops the scene, destroys the stream (server stopped, shm unlinked), closes the window. */
    ~DemoWindow();
    DemoWindow(const DemoWindow &) = delete;
    DemoWindow &operator=(const DemoWindow &) = delete;

    /* Builds the scene into the renderer and fits the camera to it. False with a message in
     * *error on bad input (an unknown scene, a malformed edge list). */
    bool BuildScene(const SceneOptions &options, std::string *error);
    /* After BuildScene: sb_stream_create on the window, then the scene's widgets and observers.
     * False with sb_last_error()'s text in *error. With a shared server: the window becomes
     * its stream called stream_name (sb_stream_create_on_server; settings.serve and the server
     * settings are the shared server's business). */
    bool StartStream(const StreamSettings &settings, std::string *error,
                     sb_server *shared_server = nullptr, const std::string &stream_name = "");

    int width() const { return width_; }
    int height() const { return height_; }
    vtkRenderer *renderer() { return renderer_; }
    vtkRenderWindow *window() { return window_; }
    vtkRenderWindowInteractor *interactor() { return iren_; }
    Scene *scene() { return scene_.get(); }
    sb_stream *stream() { return stream_; }

private:
    int width_, height_;
    vtkNew<vtkRenderer> renderer_;
    vtkNew<vtkRenderWindow> window_;
    vtkNew<vtkRenderWindowInteractor> iren_;
    vtkSmartPointer<vtkInteractorStyle> style_;
    std::unique_ptr<Scene> scene_;
    StreamSettings settings_;  /* the stream's options point into it */
    sb_stream *stream_ = nullptr;
};

}  // namespace sbdemo

#endif
