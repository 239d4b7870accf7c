// streaming_interactor.cxx - see streaming_interactor.h.
#include "streaming_interactor.h"

#include "window_streams.h"

#include <vtkObjectFactory.h>
#include <vtkRenderWindow.h>

// Not vtkStandardNewMacro's factory lookup for our own name; a plain new like VTK's own classes.
vtkStandardNewMacro(sbStreamingInteractor);

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
    if (sb::StreamWindow(this->RenderWindow))
        window_ = this->RenderWindow;
}

sbStreamingInteractor::~sbStreamingInteractor()
{
    // The stream detaches from the interactor itself when it is deleted (it observes
    // DeleteEvent); what remains is its place on the server, ring and queue.
    if (window_)
        sb::StopStreamingWindow(window_);
}
