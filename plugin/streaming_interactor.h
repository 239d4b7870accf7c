// streaming_interactor.h - private: the interactor the autoload factory hands out for
// "vtkRenderWindowInteractor". It is VTK's X11 interactor plus one thing: the first
// Initialize() (which Start() also calls) streams its render window on the plugin's server
// (window_streams.h); the destructor stops that. Everything else is vtkXRenderWindowInteractor's.
#ifndef SB_STREAMING_INTERACTOR_H
#define SB_STREAMING_INTERACTOR_H

#include <vtkRenderWindow.h>
#include <vtkWeakPointer.h>
#include <vtkXRenderWindowInteractor.h>


class sbStreamingInteractor : public vtkXRenderWindowInteractor {
public:
    static sbStreamingInteractor *New();
    vtkTypeMacro(sbStreamingInteractor, vtkXRenderWindowInteractor);

    void Initialize() override;

protected:
    sbStreamingInteractor() = default;
    ~sbStreamingInteractor() override;

private:
    sbStreamingInteractor(const sbStreamingInteractor &) = delete;
    void operator=(const sbStreamingInteractor &) = delete;

    void AttachStream();

    vtkWeakPointer<vtkRenderWindow> window_; // the window it streamed
    bool attach_tried_ = false; // one attempt per interactor: a failure is logged once
};

#endif // SB_STREAMING_INTERACTOR_H
