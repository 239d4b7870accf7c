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
        std::string raw = text && *text ? text : "VTK reported an error without text";
        while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r'))
            raw.pop_back();
        // VTK's text is "ERROR: In FILE, line N\nCLASS (ADDR): MESSAGE": the message first, on
        // one line, so sb_last_error() reads like the rest of our errors.
        static const char prefix[] = "ERROR: In ";
        const size_t newline = raw.find('\n');
        if (raw.compare(0, sizeof prefix - 1, prefix) == 0 && newline != std::string::npos) {
            std::string message = raw.substr(newline + 1);
            for (char &c : message)
                if (c == '\n' || c == '\r')
                    c = ' ';
            first_error_ = message + " (at " + raw.substr(sizeof prefix - 1, newline - (sizeof prefix - 1)) + ")";
        } else {
            first_error_ = raw;
        }
    }
    // Not aborted: the application's own error observers still see it.
    return false;
}

} // namespace sb
