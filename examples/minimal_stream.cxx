// minimal_stream.cxx - stream an existing VTK pipeline to http://127.0.0.1:8000/ (Ctrl-C stops).
#include <streambridge/streambridge.h>
#include <vtkActor.h>
#include <vtkConeSource.h>
#include <vtkNew.h>
#include <vtkPolyDataMapper.h>
#include <vtkRenderWindow.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>
#include <cstdio>

int main() {
  vtkNew<vtkConeSource> cone;                        // any ready VTK pipeline ...
  vtkNew<vtkPolyDataMapper> mapper; mapper->SetInputConnection(cone->GetOutputPort());
  vtkNew<vtkActor> actor; actor->SetMapper(mapper);
  vtkNew<vtkRenderer> renderer; renderer->AddActor(actor);
  vtkNew<vtkRenderWindow> window; window->AddRenderer(renderer);
  vtkNew<vtkRenderWindowInteractor> iren; iren->SetRenderWindow(window);

  sb_stream_options opts;                            // ... plus these lines
  sb_stream_options_init(&opts, SB_STREAM_OPTIONS_VERSION);
  opts.serve = 1;
  sb_stream *stream;
  if (sb_stream_create(window, &opts, &stream) != SB_OK) { std::fprintf(stderr, "%s\n", sb_last_error()); return 1; }
  iren->Start();
  sb_stream_destroy(stream);
}
