// streaming_interactor.h - private: the interactor the autoload factory hands out for
// "vtkRenderWindowInteractor". It is VTK's X11 interactor plus one thing: the first
// Initialize() (which Start() also calls) attaches an sb_stream with a web server to the render
// window; the destructor detaches it. Everything else is vtkXRenderWindowInteractor's.
#ifndef SB_STREAMING_INTERACTOR_H
#define SB_STREAMING_INTERACTOR_H

#include <vtkXRenderWindowInteractor.h>

struct sb_stream;

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

    sb_stream *stream_ = nullptr;
    bool attach_tried_ = false; // one attempt per interactor: a failure is logged once
};

#endif // SB_STREAMING_INTERACTOR_H
