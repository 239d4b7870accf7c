/* scene.h - one demo scene: builds its VTK pipeline into a renderer and may animate it from the
 * render thread. Only VTK here; streaming is demo_window.h's business. */
#ifndef SB_DEMO_SCENE_H
#define SB_DEMO_SCENE_H

#include <cstdint>
#include <memory>
#include <string>

namespace sbnet {
class StepLatch;
}
class vtkRenderer;
class vtkRenderWindow;
class vtkRenderWindowInteractor;

namespace sbdemo {

struct SceneOptions {
    std::string name = "basic";   /* basic | network | science */
    uint32_t nodes = 2000;        /* network: generated graph size */
    uint32_t edges_per_node = 2;  /* network: Barabasi-Albert m */
    uint64_t seed = 1;
    std::string graph_file;       /* network: edge list instead of a generated graph */
    uint32_t max_iterations = 1500;
    /* network, TEST ONLY (tests/scenes/test_scene_selftest.cxx; the demo has no option for it):
     * the layout worker stops at a latch after its first step and stays there until the test
     * opens it (Scene::LayoutLatch()). */
    bool stall_layout = false;
};

class Scene {
public:
    virtual ~Scene() = default;
    /* Builds the pipeline. Returns false with a message in *error on bad input (e.g. a
     * malformed edge list). */
    virtual bool Build(vtkRenderer *renderer, std::string *error) = 0;
    /* Called once the interactor exists (after sb_stream_create): widgets and observers. */
    virtual void AttachInteractor(vtkRenderWindowInteractor *) {}
    /* Render thread, every tick: picks up new data. Returns true when a render is needed. */
    virtual bool Tick() { return false; }
    /* Whether the scene still changes by itself (network: layout running). */
    virtual bool Animating() const { return false; }
    virtual void Stop() {}
    /* Network, for tests: a digest of the node positions drawn now. */
    virtual double PositionDigest() const { return 0; }
    /* Network, TEST ONLY: the latch the layout worker is stalled at when
     * SceneOptions::stall_layout is set, else nullptr. Stop() opens it. */
    virtual sbnet::StepLatch *LayoutLatch() { return nullptr; }
};

/* The scene options.name names (basic | network | science); nullptr for an unknown name. */
std::unique_ptr<Scene> MakeScene(const SceneOptions &options);
bool IsSceneName(const std::string &name);
std::unique_ptr<Scene> MakeBasicScene();
std::unique_ptr<Scene> MakeScienceScene();
std::unique_ptr<Scene> MakeNetworkScene(const SceneOptions &options);
/* Adds the title line shown in the top-left corner of every scene. */
void AddSceneTitle(vtkRenderer *renderer, const std::string &text);

}  // namespace sbdemo

#endif
