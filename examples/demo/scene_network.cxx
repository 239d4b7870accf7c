/* The network scene: a graph drawn as spheres and lines, laid out by a force-directed layout
 * running on a worker thread (examples/network/layout.h). The render thread only copies the
 * newest published positions into the vtkPoints, so rotating and zooming stay smooth while the
 * layout runs. */
#include "scene.h"

#include "graph.h"
#include "layout.h"

#include <vtkActor.h>
#include <vtkCallbackCommand.h>
#include <vtkCellArray.h>
#include <vtkFloatArray.h>
#include <vtkGlyph3DMapper.h>
#include <vtkIdTypeArray.h>
#include <vtkInteractorObserver.h>
#include <vtkLookupTable.h>
#include <vtkNew.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkProperty.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkSphereSource.h>
#include <vtkTextActor.h>
#include <vtkTextProperty.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sbdemo {

namespace {

class NetworkScene : public Scene {
public:
    explicit NetworkScene(const SceneOptions &options) : options_(options) {}
    ~NetworkScene() override { Stop(); }

    bool Build(vtkRenderer *renderer, std::string *error) override
    {
        sbnet::Graph graph;
        if (!LoadGraph(&graph, error))
            return false;
        node_count_ = graph.node_count;
        edge_count_ = graph.edges.size();
        renderer_ = renderer;
        CreateLayoutWorker(graph);

        /* One vtkPoints shared by the node glyphs and the edge lines; the float array is
         * overwritten in place with each snapshot. */
        points_ = vtkSmartPointer<vtkPoints>::New();
        points_->SetDataTypeToFloat();
        points_->SetNumberOfPoints(node_count_);
        CopySnapshot();

        AddNodes(renderer, graph);
        AddEdges(renderer, graph);
        AddStatusLine(renderer);
        AddSceneTitle(renderer, "network: " + std::to_string(node_count_) + " nodes, " +
                                    std::to_string(edge_count_) +
                                    " edges, Barnes-Hut force layout on a worker thread");
        renderer->ResetCamera();
        worker_->start();
        return true;
    }

    void AttachInteractor(vtkRenderWindowInteractor *iren) override
    {
        /* Follow the growing layout with the camera until the user takes over. */
        vtkInteractorObserver *style = iren->GetInteractorStyle();
        if (!style)
            return;
        vtkNew<vtkCallbackCommand> taken;
        taken->SetClientData(this);
        taken->SetCallback([](vtkObject *, unsigned long, void *self, void *) {
            static_cast<NetworkScene *>(self)->user_took_camera_ = true;
        });
        style->AddObserver(vtkCommand::StartInteractionEvent, taken);
        /* 'r' resets the camera (trackball default) and lets it follow the layout again. */
        vtkNew<vtkCallbackCommand> key;
        key->SetClientData(this);
        key->SetCallback([](vtkObject *caller, unsigned long, void *self, void *) {
            auto *interactor = static_cast<vtkRenderWindowInteractor *>(caller);
            if (interactor->GetKeyCode() == 'r' || interactor->GetKeyCode() == 'R')
                static_cast<NetworkScene *>(self)->user_took_camera_ = false;
        });
        iren->AddObserver(vtkCommand::CharEvent, key);
    }

    bool Tick() override
    {
        if (!worker_ || !worker_->take_snapshot())
            return false;
        CopySnapshot();
        UpdateStatus();
        if (!user_took_camera_)
            renderer_->ResetCamera();
        else
            renderer_->ResetCameraClippingRange();
        return true;
    }

    bool Animating() const override { return worker_ && worker_->front_progress().running; }

    void Stop() override
    {
        stall_latch_.open();  /* a stalled worker could not see the stop request */
        if (worker_)
            worker_->stop();
    }

    sbnet::StepLatch *LayoutLatch() override
    {
        return options_.stall_layout ? &stall_latch_ : nullptr;
    }

    double PositionDigest() const override
    {
        double sum = 0;
        const float *p = static_cast<const float *>(points_->GetVoidPointer(0));
        for (vtkIdType i = 0; i < 3 * static_cast<vtkIdType>(node_count_); i++)
            sum += std::fabs(p[i]) * static_cast<double>(1 + i % 7);
        return sum;
    }

private:
    /* The edge list file if one was given, else the generated scale-free graph. */
    bool LoadGraph(sbnet::Graph *graph, std::string *error) const
    {
        if (!options_.graph_file.empty()) {
            sbnet::ParseResult r = sbnet::load_edge_list(options_.graph_file, graph);
            if (!r.ok) {
                for (const auto &line : r.errors)
                    *error += line + "\n";
            }
            return r.ok;
        }
        *graph = sbnet::generate_barabasi_albert(options_.nodes, options_.edges_per_node,
                                                 options_.seed);
        if (graph->node_count == 0) {
            *error = "--nodes must be larger than " + std::to_string(options_.edges_per_node);
            return false;
        }
        return true;
    }

    void CreateLayoutWorker(const sbnet::Graph &graph)
    {
        sbnet::LayoutParams params;
        params.seed = options_.seed;
        params.max_iterations = options_.max_iterations;
        worker_ = std::make_unique<sbnet::LayoutWorker>(graph, params);
        if (options_.stall_layout) {
            /* Test only: hold the worker after its first step until the test lets go. */
            stall_latch_.close();
            worker_->set_step_hook([this](uint32_t) { stall_latch_.pass(); });
        }
    }

    /* Nodes: a sphere glyph each, coloured and sized by log2(1 + degree). */
    void AddNodes(vtkRenderer *renderer, const sbnet::Graph &graph)
    {
        float max_log_degree = 0;
        nodes_ = NodesWithDegrees(graph, &max_log_degree);
        vtkNew<vtkSphereSource> sphere;
        int res = node_count_ > 3000 ? 6 : 8;  /* llvmpipe draws every triangle */
        sphere->SetThetaResolution(res);
        sphere->SetPhiResolution(res);
        sphere->SetRadius(1.0);
        const double top = std::max(2.0f, max_log_degree);
        vtkNew<vtkLookupTable> lut;
        lut->SetHueRange(0.6, 0.0);
        lut->SetTableRange(1.0, top);
        lut->Build();
        vtkNew<vtkGlyph3DMapper> glyphs;
        glyphs->SetInputData(nodes_);
        glyphs->SetSourceConnection(sphere->GetOutputPort());
        glyphs->SetScaleArray("radius");
        glyphs->SetScaleModeToScaleByMagnitude();
        glyphs->SetScalarModeToUsePointFieldData();
        glyphs->SelectColorArray("degree");
        glyphs->SetLookupTable(lut);
        glyphs->SetScalarRange(1.0, top);
        glyphs->ScalarVisibilityOn();
        glyph_mapper_ = glyphs;
        vtkNew<vtkActor> node_actor;
        node_actor->SetMapper(glyphs);
        node_actor->GetProperty()->SetSpecular(0.3);
        renderer->AddActor(node_actor);
    }

    /* The node points with their "degree" (log2(1 + degree)) and glyph "radius" arrays. */
    vtkSmartPointer<vtkPolyData> NodesWithDegrees(const sbnet::Graph &graph, float *max_log_degree)
    {
        std::vector<uint32_t> degrees = graph.degrees();
        vtkNew<vtkFloatArray> degree;
        degree->SetName("degree");
        vtkNew<vtkFloatArray> radius;
        radius->SetName("radius");
        degree->SetNumberOfTuples(node_count_);
        radius->SetNumberOfTuples(node_count_);
        for (uint32_t i = 0; i < node_count_; i++) {
            float d = std::log2(1.0f + static_cast<float>(degrees[i]));
            degree->SetValue(i, d);
            radius->SetValue(i, 0.12f * (1.0f + 0.45f * d));
            *max_log_degree = std::max(*max_log_degree, d);
        }
        auto nodes = vtkSmartPointer<vtkPolyData>::New();
        nodes->SetPoints(points_);
        nodes->GetPointData()->AddArray(degree);
        nodes->GetPointData()->AddArray(radius);
        return nodes;
    }

    /* Edges: one line cell per edge over the shared points. */
    void AddEdges(vtkRenderer *renderer, const sbnet::Graph &graph)
    {
        vtkNew<vtkCellArray> lines;
        vtkNew<vtkIdTypeArray> connectivity;
        connectivity->SetNumberOfValues(static_cast<vtkIdType>(graph.edges.size() * 2));
        vtkIdType at = 0;
        for (const auto &e : graph.edges) {
            connectivity->SetValue(at++, e.first);
            connectivity->SetValue(at++, e.second);
        }
        lines->SetData(2, connectivity);
        edges_ = vtkSmartPointer<vtkPolyData>::New();
        edges_->SetPoints(points_);
        edges_->SetLines(lines);
        vtkNew<vtkPolyDataMapper> edge_mapper;
        edge_mapper->SetInputData(edges_);
        edge_mapper->ScalarVisibilityOff();
        vtkNew<vtkActor> edge_actor;
        edge_actor->SetMapper(edge_mapper);
        edge_actor->GetProperty()->SetColor(0.55, 0.6, 0.7);
        edge_actor->GetProperty()->SetLighting(false);
        renderer->AddActor(edge_actor);
    }

    /* The layout's progress in the bottom-left corner (UpdateStatus() fills it). */
    void AddStatusLine(vtkRenderer *renderer)
    {
        status_ = vtkSmartPointer<vtkTextActor>::New();
        status_->GetTextProperty()->SetFontSize(14);
        status_->GetTextProperty()->SetColor(0.95, 0.85, 0.4);
        status_->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
        status_->GetPositionCoordinate()->SetValue(0.015, 0.02);
        renderer->AddActor2D(status_);
        UpdateStatus();
    }

    void CopySnapshot()
    {
        const std::vector<float> &front = worker_->front();
        auto *dst = static_cast<float *>(points_->GetVoidPointer(0));
        std::memcpy(dst, front.data(), front.size() * sizeof(float));
        points_->Modified();
        if (nodes_)
            nodes_->Modified();
        if (edges_)
            edges_->Modified();
    }

    void UpdateStatus()
    {
        const sbnet::LayoutProgress &p = worker_->front_progress();
        char text[200];
        std::snprintf(text, sizeof text, "layout %s   iteration %u   energy %.4g   step %.3g",
                      p.running ? "running" : "done", p.iteration, p.energy, p.step_length);
        status_->SetInput(text);
    }

    SceneOptions options_;
    uint32_t node_count_ = 0;
    size_t edge_count_ = 0;
    vtkRenderer *renderer_ = nullptr;
    sbnet::StepLatch stall_latch_;  /* declared before worker_: outlives the worker thread */
    std::unique_ptr<sbnet::LayoutWorker> worker_;
    vtkSmartPointer<vtkPoints> points_;
    vtkSmartPointer<vtkPolyData> nodes_;
    vtkSmartPointer<vtkPolyData> edges_;
    vtkSmartPointer<vtkGlyph3DMapper> glyph_mapper_;
    vtkSmartPointer<vtkTextActor> status_;
    bool user_took_camera_ = false;
};

}  // namespace

std::unique_ptr<Scene> MakeNetworkScene(const SceneOptions &options)
{
    return std::make_unique<NetworkScene>(options);
}

}  // namespace sbdemo
