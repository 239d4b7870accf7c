// cone_app.cxx - a plain VTK application that knows nothing of streambridge (it links only VTK):
// the autoload plugin test runs it with VTK_AUTOLOAD_PATH set.
//
//     cone_app WIDTH HEIGHT QUIT_FILE MAX_SECONDS
//
// Renders a cone in a WIDTHxHEIGHT window, calls iren->Initialize(), prints
// "ready <interactor class>" and runs iren->Start() until QUIT_FILE exists or MAX_SECONDS pass
// (then exit status 3, so a test that never asked it to quit fails).
#include <vtkActor.h>
#include <vtkCallbackCommand.h>
#include <vtkConeSource.h>
#include <vtkNew.h>
#include <vtkPolyDataMapper.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace {

struct QuitWatch {
    const char *quit_file;
    std::chrono::steady_clock::time_point deadline;
    bool timed_out = false;
};

void OnTimer(vtkObject *caller, unsigned long, void *client_data, void *)
{
    auto *watch = static_cast<QuitWatch *>(client_data);
    bool quit = access(watch->quit_file, F_OK) == 0;
    if (!quit && std::chrono::steady_clock::now() > watch->deadline) {
        watch->timed_out = true;
        quit = true;
    }
    if (quit)
        static_cast<vtkRenderWindowInteractor *>(caller)->TerminateApp();
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s WIDTH HEIGHT QUIT_FILE MAX_SECONDS\n", argv[0]);
        return 2;
    }
    const int width = atoi(argv[1]), height = atoi(argv[2]);
    QuitWatch watch{argv[3], std::chrono::steady_clock::now() + std::chrono::seconds(atoi(argv[4]))};

    vtkNew<vtkConeSource> cone;
    vtkNew<vtkPolyDataMapper> mapper;
    mapper->SetInputConnection(cone->GetOutputPort());
    vtkNew<vtkActor> actor;
    actor->SetMapper(mapper);
    vtkNew<vtkRenderer> renderer;
    renderer->AddActor(actor);
    renderer->SetBackground(0.1, 0.1, 0.3);
    vtkNew<vtkRenderWindow> window;
    window->SetSize(width, height);
    window->AddRenderer(renderer);
    vtkNew<vtkRenderWindowInteractor> iren;
    iren->SetRenderWindow(window);
    window->Render();
    iren->Initialize();

    vtkNew<vtkCallbackCommand> on_timer;
    on_timer->SetCallback(OnTimer);
    on_timer->SetClientData(&watch);
    iren->AddObserver(vtkCommand::TimerEvent, on_timer);
    iren->CreateRepeatingTimer(100);
    printf("ready %s\n", iren->GetClassName());
    fflush(stdout);
    iren->Start();
    return watch.timed_out ? 3 : 0;
}
