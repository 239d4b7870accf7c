// autoload_factory.cxx - the VTK object factory of libstreambridge_autoload.so.
//
// vtkObjectFactory::Init() (run once, by the first RegisterFactory or CreateInstance of the
// process) loads every shared library in VTK_AUTOLOAD_PATH, calls its vtkLoad() and registers
// the factory it returns. Init() creates the factory list and loads these dynamic factories
// before it adds the factory that triggered it, so ours sits ahead of RenderingUI's
// (vtkRenderWindowInteractor -> vtkXRenderWindowInteractor) and CreateInstance, which asks the
// factories in order, hands out our interactor.
#include "autoload_settings.h"
#include "streaming_interactor.h"

#include <vtkObjectFactory.h>
#include <vtkVersionMacros.h>

namespace {

vtkObject *CreateStreamingInteractor()
{
    return sbStreamingInteractor::New();
}

class sbAutoloadFactory : public vtkObjectFactory {
public:
    static sbAutoloadFactory *New();
    vtkTypeMacro(sbAutoloadFactory, vtkObjectFactory);

    const char *GetVTKSourceVersion() override { return VTK_SOURCE_VERSION; }
    const char *GetDescription() override
    {
        return "streambridge autoload: streams every interactor's render window to browsers";
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
    }

private:
    sbAutoloadFactory(const sbAutoloadFactory &) = delete;
    void operator=(const sbAutoloadFactory &) = delete;
};

vtkStandardNewMacro(sbAutoloadFactory);

} // namespace

VTK_FACTORY_INTERFACE_IMPLEMENT(sbAutoloadFactory)
