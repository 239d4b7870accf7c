// vtk_error_trap.h - private: turns VTK ErrorEvents raised during one of our calls into our error.
//
// VTK reports errors through vtkCommand::ErrorEvent, not exceptions or return codes. An object
// with an ErrorEvent observer hands its error to the observer; one without sends it to the global
// vtkOutputWindow, which raises ErrorEvent itself. So a trap observes both the render window and
// the output window for its own lifetime (one C API call), keeps the first message, and the call
// then returns SB_EVTK with that text. Render thread only.
#ifndef SB_VTK_ERROR_TRAP_H
#define SB_VTK_ERROR_TRAP_H

#include <vtkObject.h>
#include <vtkSmartPointer.h>
#include <vtkWeakPointer.h>

#include <string>

namespace sb {

class VtkErrorTrap {
public:
    explicit VtkErrorTrap(vtkObject *window);
    ~VtkErrorTrap();
    VtkErrorTrap(const VtkErrorTrap &) = delete;
    VtkErrorTrap &operator=(const VtkErrorTrap &) = delete;

    bool Caught() const { return !first_error_.empty(); }
    // First error text seen, trimmed of VTK's trailing newlines; "" when none.
    const std::string &Message() const { return first_error_; }

private:
    bool OnError(vtkObject *caller, unsigned long event, void *call_data);

    vtkWeakPointer<vtkObject> window_;
    vtkSmartPointer<vtkObject> output_window_;
    unsigned long window_tag_ = 0;
    unsigned long output_tag_ = 0;
    std::string first_error_;
};

} // namespace sb

#endif // SB_VTK_ERROR_TRAP_H
