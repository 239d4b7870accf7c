/* layout.h - 3-D force-directed graph layout (Fruchterman-Reingold forces, Barnes-Hut octree for
 * the repulsion so one step costs O(n log n), adaptive step length after Yifan Hu) and a worker
 * thread that runs it and publishes position snapshots to the render thread.
 * Plain C++17, no VTK and no streambridge, so the tests can call it directly. */
#ifndef SB_DEMO_NETWORK_LAYOUT_H
#define SB_DEMO_NETWORK_LAYOUT_H

#include "graph.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sbnet {

struct Vec3 {
    double x = 0, y = 0, z = 0;
};

struct LayoutParams {
    double ideal_distance = 1.0;  /* k: attraction d^2/k, repulsion k^2/d */
    double theta = 0.8;           /* Barnes-Hut opening angle; 0 = exact O(n^2) */
    double gravity = 0.05;        /* pull -gravity*x towards the origin: keeps components together */
    double initial_step = 0.0;    /* 0: ideal_distance * cbrt(n) / 4 */
    double cooling = 0.9;         /* step multiplier when the energy rises (Hu's t) */
    double min_step = 1e-3;       /* relative to ideal_distance: converged below */
    uint32_t max_iterations = 1500;
    uint64_t seed = 1;
};

/* Single-threaded layout state; step() from one thread at a time. */
class ForceLayout {
public:
    ForceLayout(const Graph &graph, const LayoutParams &params);

    /* One iteration: forces, then every node moves by step_length along its force. */
    void step();
    bool converged() const;

    const std::vector<Vec3> &positions() const { return positions_; }
    void set_positions(const std::vector<Vec3> &p) { positions_ = p; }
    uint32_t iteration() const { return iteration_; }
    double step_length() const { return step_; }
    /* Hu's "energy" of the last step: the sum of squared force magnitudes. */
    double force_energy() const { return force_energy_; }

    /* Net force on every node. theta <= 0 computes the repulsion exactly, pair by pair. */
    void compute_forces(std::vector<Vec3> &out, double theta) const;
    /* The potential whose negative gradient the forces are (exact, O(n^2); for tests):
     * sum over edges d^3/(3k) - sum over pairs k^2 ln d + gravity |x|^2 / 2. */
    double potential_energy() const;

private:
    struct Cell;
    /* Barnes-Hut octree over the positions: cells[0] is the root; a leaf holds the nodes
     * order[first .. first+count). */
    void build_tree(std::vector<Cell> &cells, std::vector<uint32_t> &order) const;
    Cell root_cell() const;
    /* Appends cells[ci]'s non-empty octants as its children; returns how many. */
    uint32_t split_cell(size_t ci, std::vector<Cell> &cells, std::vector<uint32_t> &order,
                        std::vector<uint32_t> &scratch) const;
    /* Repulsion k^2/d on node i from weight nodes at `from`, added to force. */
    void repel(Vec3 &force, size_t i, const Vec3 &from, double weight) const;
    void add_exact_repulsion(std::vector<Vec3> &out) const;
    void add_tree_repulsion(std::vector<Vec3> &out, double theta) const;

    std::vector<std::pair<uint32_t, uint32_t>> edges_;
    std::vector<Vec3> positions_;
    LayoutParams params_;
    uint32_t iteration_ = 0;
    double step_ = 0;
    double force_energy_ = 0;
    uint32_t progress_ = 0;
    std::vector<Vec3> forces_;
};

struct LayoutProgress {
    uint32_t iteration = 0;
    double energy = 0;        /* force energy, see ForceLayout::force_energy() */
    double step_length = 0;
    bool running = false;     /* false once converged or stopped */
    uint64_t seq = 0;         /* snapshot number, 1 = the initial positions */
};

/* TEST ONLY (tests/scenes: test_network_layout, and test_scene_selftest through
 * sbdemo::SceneOptions::stall_layout; never armed by streambridge-demo): a gate a LayoutWorker step hook waits at, so a test can stall the layout worker in the
 * middle of its work for as long as the test likes, check that the render thread carries on
 * meanwhile (frames, replayed input), then let it go. This proves "the render thread never waits
 * for the layout" by construction instead of by timing. Thread-safe. */
class StepLatch {
public:
    /* Worker side (call it from the step hook): blocks while the latch is closed. */
    void pass();
    /* Test side. close(): the next pass() blocks. open(): releases a blocked pass() for good
     * (also call it before stopping the worker, or stop() waits for the latch). */
    void close();
    void open();
    /* True while a thread is blocked in pass(): the worker is being held. */
    bool holding() const;
    /* Waits until a thread is blocked in pass() or timeout_ms passed; true when it is. */
    bool wait_holding(int timeout_ms) const;

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    bool closed_ = false;
    bool holding_ = false;
};

/* Runs a ForceLayout on its own std::thread. Positions are published as float xyz snapshots
 * through a triple buffer: the worker fills its back buffer with no lock held, then swaps it
 * with the shared middle one under a mutex held for a pointer swap only; the reader swaps the
 * middle one with its front buffer the same way. So neither side ever waits for the other's
 * work: the render thread never waits for a layout step. */
class LayoutWorker {
public:
    LayoutWorker(const Graph &graph, const LayoutParams &params);
    ~LayoutWorker();  /* stops and joins */
    LayoutWorker(const LayoutWorker &) = delete;
    LayoutWorker &operator=(const LayoutWorker &) = delete;

    void start();
    void stop();

    /* Render thread: if a snapshot newer than the last one taken exists, makes it the front
     * buffer and returns true. Never waits for a step. */
    bool take_snapshot();
    /* The snapshot last taken: 3 floats per node. Valid until the next take_snapshot(). */
    const std::vector<float> &front() const { return front_; }
    const LayoutProgress &front_progress() const { return front_progress_; }

    /* Test hook: called by the worker after each step, before its snapshot is published (no
     * lock held), so a slow hook stands for a slow step. Set before start(). With a StepLatch
     * (below) a test holds the worker inside a step for as long as it wants. */
    void set_step_hook(std::function<void(uint32_t iteration)> hook) { step_hook_ = std::move(hook); }

private:
    void run();
    void publish(bool running);

    ForceLayout layout_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::mutex swap_mutex_;
    std::vector<float> back_, middle_, front_;
    LayoutProgress back_progress_, middle_progress_, front_progress_;
    uint64_t published_seq_ = 0;
    std::function<void(uint32_t)> step_hook_;
};

}  // namespace sbnet

#endif
