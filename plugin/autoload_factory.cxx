// autoload_factory.cxx - the VTK object factory of libstreambridge_autoload.so.
//
// vtkObjectFactory::Init() (run once, by the first RegisterFactory or CreateInstance of the
// process) loads every shared library in VTK_AUTOLOAD_PATH, calls its vtkLoad() and registers
// the factory it returns. Init() creates the factory list and loads these dynamic factories
// before it adds the factory that triggered it, so ours sits ahead of RenderingUI's
// (vtkRenderWindowInteractor -> vtkXRenderWindowInteractor; RenderingOpenGL2's vtkRenderWindow ->
// vtkXOpenGLRenderWindow) and CreateInstance, which asks the
// factories in order, hands out our interactor - usually. Loading the plugin also loads
// libstreambridge, whose static initializers may register RenderingUI's factory (VTK's autoinit
// counter lets the first one in the process do it) *before* vtkLoad() hands ours over; that
// happens in the ASan build. So vtkLoad() also switches off the X11 override in every factory
// registered so far; a RenderingUI factory registered later comes after ours anyway.
#include "autoload_settings.h"
#include "streaming_interactor.h"
#include "streaming_render_window.h"

#include <vtkObjectFactory.h>
#include <vtkVersionMacros.h>

#include <dlfcn.h>

namespace {

vtkObject *CreateStreamingInteractor()
{
    return sbStreamingInteractor::New();
}

vtkObject *CreateStreamingRenderWindow()
{
    return sbStreamingRenderWindow::New();
}

class sbAutoloadFactory : public vtkObjectFactory {
public:
    static sbAutoloadFactory *New();
    vtkTypeMacro(sbAutoloadFactory, vtkObjectFactory);

    const char *GetVTKSourceVersion() override { return VTK_SOURCE_VERSION; }
    const char *GetDescription() override
    {
        return "streambridge autoload: streams every render window to browsers";
    }

protected:
    sbAutoloadFactory()
    {
        // Disabled: no override at all, so the application gets VTK's own classes untouched.
        if (!sb::GetAutoloadSettings().enabled)
            return;
        this->RegisterOverride("vtkRenderWindowInteractor", "sbStreamingInteractor",
                               "streambridge streaming X11 interactor", 1,
                               CreateStreamingInteractor);
        // Windows without an interactor (offscreen batch scripts) stream from their first
        // Render() on.
        this->RegisterOverride("vtkRenderWindow", "sbStreamingRenderWindow",
                               "streambridge streaming X11 OpenGL render window", 1,
                               CreateStreamingRenderWindow);
    }

private:
    sbAutoloadFactory(const sbAutoloadFactory &) = delete;
    void operator=(const sbAutoloadFactory &) = delete;
};

vtkStandardNewMacro(sbAutoloadFactory);

} // namespace

// What VTK_FACTORY_INTERFACE_IMPLEMENT defines, with the override-order fix in vtkLoad().
extern "C" VTK_FACTORY_INTERFACE_EXPORT const char *vtkGetFactoryVersion()
{
    return VTK_SOURCE_VERSION;
}

extern "C" VTK_FACTORY_INTERFACE_EXPORT vtkObjectFactory *vtkLoad()
{
    // VTK unloads its autoload libraries at exit (its factory cleanup), while a window the
    // application never released may still stream: the server's threads would then run code
    // that is no longer mapped. Pinned, this library stays until the process ends.
    Dl_info self;
    if (dladdr(reinterpret_cast<void *>(&vtkLoad), &self) && self.dli_fname)
        dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    if (sb::GetAutoloadSettings().enabled) {
        vtkObjectFactory::SetAllEnableFlags(0, "vtkRenderWindowInteractor",
                                            "vtkXRenderWindowInteractor");
        vtkObjectFactory::SetAllEnableFlags(0, "vtkRenderWindow", "vtkXOpenGLRenderWindow");
    }
    return sbAutoloadFactory::New();
}
