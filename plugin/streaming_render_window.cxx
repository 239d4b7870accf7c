// streaming_render_window.cxx - see streaming_render_window.h.
#include "streaming_render_window.h"

#include "window_streams.h"

#include <vtkObjectFactory.h>

// Not vtkStandardNewMacro's factory lookup for our own name; a plain new like VTK's own classes.
vtkStandardNewMacro(sbStreamingRenderWindow);

void sbStreamingRenderWindow::Render()
{
    // A window without an interactor has no event loop draining the viewers' input: it is
    // replayed here, before each of the application's renders.
    if (rendered_ && !in_render_) {
        in_render_ = true;
        sb::ReplayQueuedInput(this);
        in_render_ = false;
    }
    Superclass::Render();
    if (!rendered_) {
        rendered_ = true; // before: streaming renders once more, which must not come back here
        sb::WindowRenderedFirstTime(this);
    }
}

void sbStreamingRenderWindow::UnRegister(vtkObjectBase *o)
{
    // Two references left, this one going: the other is the stream's own interactor's.
    if (!releasing_ && this->GetReferenceCount() == 2 && sb::StreamHoldsLastReference(this)) {
        releasing_ = true;
        sb::StopStreamingWindow(this); // releases the interactor, which releases its reference
        releasing_ = false;
    }
    Superclass::UnRegister(o);
}

sbStreamingRenderWindow::~sbStreamingRenderWindow()
{
    // Normally done already by the DeleteEvent observer (window_streams.cxx).
    sb::StopStreamingWindow(this);
}
