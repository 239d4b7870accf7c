// windows_app.cxx - plain VTK applications (linking only VTK) with more than one window, or a
// window without an interactor; the autoload plugin tests run them with VTK_AUTOLOAD_PATH set.
//
//     windows_app two WIDTH HEIGHT QUIT_FILE MAX_SECONDS
//         Two windows with interactors: "Left view" (WIDTH x HEIGHT, a cone) and "Right view"
//         (WIDTH/2 x HEIGHT/2, a sphere); one event loop serves both.
//     windows_app offscreen WIDTH HEIGHT QUIT_FILE MAX_SECONDS
//         A batch script's window: offscreen, no interactor ever, rendered in a plain loop.
//
// Prints "ready" once everything rendered, and runs until QUIT_FILE exists or MAX_SECONDS pass
// (then exit status 3, so a test that never asked it to quit fails).
#include <vtkActor.h>
#include <vtkCallbackCommand.h>
#include <vtkConeSource.h>
#include <vtkNew.h>
#include <vtkPolyDataMapper.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>
#include <vtkSphereSource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

// Xlib, declared here so its macros stay out of the VTK headers' way.
extern "C" struct _XDisplay *XOpenDisplay(const char *display_name);

namespace {

// Mesa leaks a little in its dlopen'ed driver per X connection that closes (LeakSanitizer
// reports it in the ASan build), and a window closes the connection it opened itself: the
// windows here use one the app keeps, as tests/vtk/vtk_test_scene.h does.
void *AppDisplay()
{
    static _XDisplay *display = XOpenDisplay(nullptr);
    return display;
}

struct QuitWatch {
    const char *quit_file;
    std::chrono::steady_clock::time_point deadline;
    bool timed_out = false;
    // VTK's X event loop ends only when every interactor in it was told to.
    vtkRenderWindowInteractor *all[2] = {nullptr, nullptr};

    bool Quit()
    {
        if (access(quit_file, F_OK) == 0)
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            timed_out = true;
        return timed_out;
    }
};

void OnTimer(vtkObject *caller, unsigned long, void *client_data, void *)
{
    auto *watch = static_cast<QuitWatch *>(client_data);
    if (!watch->Quit())
        return;
    static_cast<vtkRenderWindowInteractor *>(caller)->TerminateApp();
    for (vtkRenderWindowInteractor *iren : watch->all)
        if (iren && iren != caller)
            iren->TerminateApp();
}

vtkNew<vtkRenderer> &Scene(vtkNew<vtkRenderer> &renderer, vtkAlgorithm *source, double r,
                           double g, double b)
{
    vtkNew<vtkPolyDataMapper> mapper;
    mapper->SetInputConnection(source->GetOutputPort());
    vtkNew<vtkActor> actor;
    actor->SetMapper(mapper);
    renderer->AddActor(actor);
    renderer->SetBackground(r, g, b);
    return renderer;
}

int TwoWindows(int width, int height, QuitWatch &watch)
{
    vtkNew<vtkConeSource> cone;
    vtkNew<vtkSphereSource> sphere;
    vtkNew<vtkRenderer> left_renderer, right_renderer;
    Scene(left_renderer, cone, 0.1, 0.1, 0.3);
    Scene(right_renderer, sphere, 0.3, 0.1, 0.1);
    vtkNew<vtkRenderWindow> left, right;
    left->SetDisplayId(AppDisplay());
    right->SetDisplayId(AppDisplay());
    left->SetWindowName("Left view");
    left->SetSize(width, height);
    left->AddRenderer(left_renderer);
    right->SetWindowName("Right view");
    right->SetSize(width / 2, height / 2);
    right->AddRenderer(right_renderer);
    vtkNew<vtkRenderWindowInteractor> left_iren, right_iren;
    left_iren->SetRenderWindow(left);
    right_iren->SetRenderWindow(right);
    left->Render();
    right->Render();
    left_iren->Initialize();
    right_iren->Initialize();
    watch.all[0] = left_iren;
    watch.all[1] = right_iren;
    vtkNew<vtkCallbackCommand> on_timer;
    on_timer->SetCallback(OnTimer);
    on_timer->SetClientData(&watch);
    left_iren->AddObserver(vtkCommand::TimerEvent, on_timer);
    left_iren->CreateRepeatingTimer(100);
    printf("ready %s %s\n", left_iren->GetClassName(), right->GetClassName());
    fflush(stdout);
    left_iren->Start(); // serves both windows' X events (and the streams' timers)
    return watch.timed_out ? 3 : 0;
}

// A batch script: renders in its own loop (the scene itself never changes: a picture that
// changes comes from a viewer's input); never an interactor.
int Offscreen(int width, int height, QuitWatch &watch)
{
    vtkNew<vtkConeSource> cone;
    vtkNew<vtkRenderer> renderer;
    Scene(renderer, cone, 0.1, 0.3, 0.1);
    vtkNew<vtkRenderWindow> window;
    window->SetDisplayId(AppDisplay());
    window->SetOffScreenRendering(1);
    window->SetSize(width, height);
    window->AddRenderer(renderer);
    const bool had_interactor = window->GetInteractor() != nullptr; // the script made none
    window->Render();
    printf("ready %s %s\n", had_interactor ? "interactor" : "no-interactor",
           window->GetClassName());
    fflush(stdout);
    while (!watch.Quit()) {
        window->Render();
        std::this_thread::sleep_for(std::chrono::milliseconds(100)); // the script's own pace
    }
    return watch.timed_out ? 3 : 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 6 || (strcmp(argv[1], "two") != 0 && strcmp(argv[1], "offscreen") != 0)) {
        fprintf(stderr, "usage: %s two|offscreen WIDTH HEIGHT QUIT_FILE MAX_SECONDS\n", argv[0]);
        return 2;
    }
    const int width = atoi(argv[2]), height = atoi(argv[3]);
    QuitWatch watch{argv[4], std::chrono::steady_clock::now() + std::chrono::seconds(atoi(argv[5]))};
    return strcmp(argv[1], "two") == 0 ? TwoWindows(width, height, watch)
                                       : Offscreen(width, height, watch);
}
