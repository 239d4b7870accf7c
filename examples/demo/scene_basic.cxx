/* The basic scene: a few lit, coloured solids and an axes orientation marker. */
#include "scene.h"

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkAxesActor.h>
#include <vtkConeSource.h>
#include <vtkCubeSource.h>
#include <vtkCylinderSource.h>
#include <vtkLightKit.h>
#include <vtkNew.h>
#include <vtkOrientationMarkerWidget.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkSphereSource.h>
#include <vtkTextActor.h>
#include <vtkTextProperty.h>

namespace sbdemo {

namespace {

void AddSolid(vtkRenderer *renderer, vtkAlgorithm *source, double r, double g, double b,
              double x, double y, double z)
{
    vtkNew<vtkPolyDataMapper> mapper;
    mapper->SetInputConnection(source->GetOutputPort());
    vtkNew<vtkActor> actor;
    actor->SetMapper(mapper);
    actor->SetPosition(x, y, z);
    vtkProperty *p = actor->GetProperty();
    p->SetColor(r, g, b);
    p->SetSpecular(0.4);
    p->SetSpecularPower(30);
    renderer->AddActor(actor);
}

class BasicScene : public Scene {
public:
    bool Build(vtkRenderer *renderer, std::string *) override
    {
        vtkNew<vtkSphereSource> sphere;
        sphere->SetThetaResolution(48);
        sphere->SetPhiResolution(32);
        sphere->SetRadius(0.6);
        AddSolid(renderer, sphere, 0.90, 0.30, 0.25, -1.6, 0, 0);

        vtkNew<vtkConeSource> cone;
        cone->SetResolution(48);
        cone->SetHeight(1.3);
        cone->SetRadius(0.6);
        cone->SetDirection(0, 1, 0);
        AddSolid(renderer, cone, 0.30, 0.80, 0.35, 0, 0, 0);

        vtkNew<vtkCubeSource> cube;
        cube->SetXLength(1.0);
        cube->SetYLength(1.0);
        cube->SetZLength(1.0);
        AddSolid(renderer, cube, 0.25, 0.45, 0.95, 1.6, 0, 0);

        vtkNew<vtkCylinderSource> cylinder;
        cylinder->SetResolution(48);
        cylinder->SetRadius(0.35);
        cylinder->SetHeight(1.2);
        AddSolid(renderer, cylinder, 0.95, 0.80, 0.25, 0, 0, -1.6);

        vtkNew<vtkLightKit> lights;
        lights->AddLightsToRenderer(renderer);
        renderer->GetActiveCamera()->Elevation(20);
        renderer->GetActiveCamera()->Azimuth(25);
        AddSceneTitle(renderer, "basic: drag to rotate, wheel to zoom, 'r' resets the camera");
        return true;
    }

    void AttachInteractor(vtkRenderWindowInteractor *iren) override
    {
        /* The orientation marker follows the camera in the lower-left corner. It is not
         * interactive, so a drag starting there still rotates the scene. */
        axes_ = vtkSmartPointer<vtkAxesActor>::New();
        marker_ = vtkSmartPointer<vtkOrientationMarkerWidget>::New();
        marker_->SetOrientationMarker(axes_);
        marker_->SetInteractor(iren);
        marker_->SetViewport(0.0, 0.0, 0.22, 0.3);
        marker_->SetEnabled(1);
        marker_->InteractiveOff();
    }

    ~BasicScene() override
    {
        if (marker_)
            marker_->SetEnabled(0);
    }

private:
    vtkSmartPointer<vtkAxesActor> axes_;
    vtkSmartPointer<vtkOrientationMarkerWidget> marker_;
};

}  // namespace

void AddSceneTitle(vtkRenderer *renderer, const std::string &text)
{
    vtkNew<vtkTextActor> title;
    title->SetInput(text.c_str());
    title->GetTextProperty()->SetFontSize(15);
    title->GetTextProperty()->SetColor(0.92, 0.92, 0.92);
    title->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
    title->GetPositionCoordinate()->SetValue(0.015, 0.95);
    title->GetTextProperty()->SetVerticalJustificationToTop();
    renderer->AddActor2D(title);
}

std::unique_ptr<Scene> MakeBasicScene() { return std::make_unique<BasicScene>(); }

}  // namespace sbdemo
