/* The science scene: iso-surfaces of VTK's analytic "wavelet" field, clipped by a plane so the
 * nested shells show, with a colour bar. */
#include "scene.h"

#include <vtkActor.h>
#include <vtkCamera.h>
#include <vtkClipPolyData.h>
#include <vtkContourFilter.h>
#include <vtkImageData.h>
#include <vtkLookupTable.h>
#include <vtkNew.h>
#include <vtkOutlineFilter.h>
#include <vtkPlane.h>
#include <vtkPolyDataMapper.h>
#include <vtkPointData.h>
#include <vtkProperty.h>
#include <vtkRTAnalyticSource.h>
#include <vtkRenderer.h>
#include <vtkScalarBarActor.h>
#include <vtkTextProperty.h>

namespace sbdemo {

namespace {

/* Nested iso-surfaces of the field's scalars, clipped by a plane, coloured by lut. */
void AddClippedShells(vtkRenderer *renderer, vtkAlgorithm *field, const double range[2],
                      vtkLookupTable *lut)
{
    vtkNew<vtkContourFilter> contours;
    contours->SetInputConnection(field->GetOutputPort());
    const int iso_count = 5;
    for (int i = 0; i < iso_count; i++) {
        double t = (i + 1.0) / (iso_count + 1.0);
        contours->SetValue(i, range[0] + t * (range[1] - range[0]));
    }
    contours->ComputeScalarsOn();
    contours->ComputeNormalsOn();

    /* Clip away the +x, +y octant half so the inner shells are visible. */
    vtkNew<vtkPlane> plane;
    plane->SetOrigin(0, 0, 0);
    plane->SetNormal(-1, -0.6, 0.3);
    vtkNew<vtkClipPolyData> clip;
    clip->SetInputConnection(contours->GetOutputPort());
    clip->SetClipFunction(plane);

    vtkNew<vtkPolyDataMapper> mapper;
    mapper->SetInputConnection(clip->GetOutputPort());
    mapper->SetLookupTable(lut);
    mapper->SetScalarRange(range);
    mapper->ScalarVisibilityOn();
    vtkNew<vtkActor> shells;
    shells->SetMapper(mapper);
    shells->GetProperty()->SetSpecular(0.3);
    shells->GetProperty()->SetSpecularPower(20);
    shells->GetProperty()->BackfaceCullingOff();
    renderer->AddActor(shells);
}

/* The field's bounding box. */
void AddOutline(vtkRenderer *renderer, vtkAlgorithm *field)
{
    vtkNew<vtkOutlineFilter> outline;
    outline->SetInputConnection(field->GetOutputPort());
    vtkNew<vtkPolyDataMapper> outline_mapper;
    outline_mapper->SetInputConnection(outline->GetOutputPort());
    vtkNew<vtkActor> box;
    box->SetMapper(outline_mapper);
    box->GetProperty()->SetColor(0.85, 0.85, 0.85);
    renderer->AddActor(box);
}

/* The colour bar on the right. */
void AddColorBar(vtkRenderer *renderer, vtkLookupTable *lut)
{
    vtkNew<vtkScalarBarActor> bar;
    bar->SetLookupTable(lut);
    bar->SetTitle("RTData");
    bar->SetNumberOfLabels(5);
    bar->SetMaximumWidthInPixels(90);
    bar->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
    bar->GetPositionCoordinate()->SetValue(0.86, 0.1);
    bar->SetWidth(0.12);
    bar->SetHeight(0.75);
    renderer->AddActor2D(bar);
}

class ScienceScene : public Scene {
public:
    bool Build(vtkRenderer *renderer, std::string *) override
    {
        vtkNew<vtkRTAnalyticSource> field;
        field->SetWholeExtent(-32, 32, -32, 32, -32, 32);
        field->Update();
        double range[2];
        field->GetOutput()->GetPointData()->GetScalars()->GetRange(range);

        vtkNew<vtkLookupTable> lut;
        lut->SetHueRange(0.66, 0.0);
        lut->SetTableRange(range);
        lut->Build();

        AddClippedShells(renderer, field, range, lut);
        AddOutline(renderer, field);
        AddColorBar(renderer, lut);

        /* An oblique view shows the nested shells through the cut. */
        renderer->GetActiveCamera()->Azimuth(35);
        renderer->GetActiveCamera()->Elevation(25);
        AddSceneTitle(renderer, "science: wavelet iso-surfaces, clipped");
        return true;
    }
};

}  // namespace

std::unique_ptr<Scene> MakeScienceScene() { return std::make_unique<ScienceScene>(); }

}  // namespace sbdemo
