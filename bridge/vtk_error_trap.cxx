// vtk_error_trap.cxx - see vtk_error_trap.h.
#include "vtk_error_trap.h"

#include <vtkCommand.h>
#include <vtkOutputWindow.h>

namespace sb {

VtkErrorTrap::VtkErrorTrap(vtkObject *window) : window_(window)
{
    if (window)
        window_tag_ = window->AddObserver(vtkCommand::ErrorEvent, this, &VtkErrorTrap::OnError);
    output_window_ = vtkOutputWindow::GetInstance();
    if (output_window_)
        output_tag_ =
            output_window_->AddObserver(vtkCommand::ErrorEvent, this, &VtkErrorTrap::OnError);
}

VtkErrorTrap::~VtkErrorTrap()
{
    // The window may have been destroyed during the call (weak pointer then NULL): its observers
    // went with it.
    if (window_ && window_tag_)
        window_->RemoveObserver(window_tag_);
    if (output_window_ && output_tag_)
        output_window_->RemoveObserver(output_tag_);
}

bool VtkErrorTrap::OnError(vtkObject *, unsigned long, void *call_data)
{
    if (first_error_.empty()) {
        const char *text = static_cast<const char *>(call_data);
        first_error_ = text && *text ? text : "VTK reported an error without text";
        while (!first_error_.empty() &&
               (first_error_.back() == '\n' || first_error_.back() == '\r'))
            first_error_.pop_back();
    }
    // Not aborted: the application's own error observers still see it.
    return false;
}

} // namespace sb
