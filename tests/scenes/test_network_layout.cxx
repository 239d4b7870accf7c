/* Force-directed layout (Barnes-Hut) and its worker thread of the network demo scene. */
#include "graph.h"
#include "layout.h"
#include "sb_cunit.h"

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace sbnet;

static LayoutParams params_with_theta(double theta)
{
    LayoutParams p;
    p.theta = theta;
    p.seed = 5;
    return p;
}

static void test_potential_energy_decreases_on_small_graph(void)
{
    Graph g = generate_barabasi_albert(60, 2, 1);
    ForceLayout layout(g, params_with_theta(0.0));
    double before = layout.potential_energy();
    for (int i = 0; i < 300; i++)
        layout.step();
    double after = layout.potential_energy();
    CU_ASSERT(after < before);
    /* and the force energy (Hu's measure) drops by orders of magnitude */
    ForceLayout fresh(g, params_with_theta(0.0));
    fresh.step();
    CU_ASSERT(layout.force_energy() < fresh.force_energy() * 0.01);
}

static void test_forces_are_minus_gradient_of_potential(void)
{
    /* Central differences of the potential match the exact forces: the energy shown is the
     * one the layout minimises. */
    Graph g = generate_barabasi_albert(12, 2, 4);
    ForceLayout layout(g, params_with_theta(0.0));
    std::vector<Vec3> forces;
    layout.compute_forces(forces, 0.0);
    std::vector<Vec3> p = layout.positions();
    const double h = 1e-5;
    for (size_t i = 0; i < p.size(); i += 3) {
        std::vector<Vec3> q = p;
        q[i].x += h;
        layout.set_positions(q);
        double up = layout.potential_energy();
        q[i].x -= 2 * h;
        layout.set_positions(q);
        double down = layout.potential_energy();
        double grad = (up - down) / (2 * h);
        CU_ASSERT_DOUBLE_EQUAL(-grad, forces[i].x, 1e-4 * (1 + std::fabs(forces[i].x)));
    }
}

static void test_barnes_hut_forces_close_to_exact(void)
{
    Graph g = generate_barabasi_albert(400, 2, 9);
    ForceLayout layout(g, params_with_theta(0.6));
    for (int i = 0; i < 20; i++)
        layout.step();  /* a non-random, structured configuration */
    std::vector<Vec3> exact, approx;
    layout.compute_forces(exact, 0.0);
    layout.compute_forces(approx, 0.6);
    double err2 = 0, norm2 = 0;
    for (size_t i = 0; i < exact.size(); i++) {
        double dx = exact[i].x - approx[i].x, dy = exact[i].y - approx[i].y,
               dz = exact[i].z - approx[i].z;
        err2 += dx * dx + dy * dy + dz * dz;
        norm2 += exact[i].x * exact[i].x + exact[i].y * exact[i].y + exact[i].z * exact[i].z;
    }
    double relative = std::sqrt(err2 / norm2);
    printf("\n    Barnes-Hut relative force error (theta 0.6, n 400): %.4f\n", relative);
    CU_ASSERT(relative < 0.05);
    CU_ASSERT(relative > 0.0);  /* it really approximated something */
}

static void test_barnes_hut_handles_coincident_nodes(void)
{
    Graph g = generate_barabasi_albert(50, 1, 2);
    ForceLayout layout(g, params_with_theta(0.8));
    std::vector<Vec3> same(50, Vec3{1, 2, 3});
    layout.set_positions(same);
    for (int i = 0; i < 50; i++)
        layout.step();
    const auto &p = layout.positions();
    for (const auto &v : p)
        CU_ASSERT(std::isfinite(v.x) && std::isfinite(v.y) && std::isfinite(v.z));
    CU_ASSERT(p[0].x != p[1].x || p[0].y != p[1].y || p[0].z != p[1].z);
}

static void test_layout_converges(void)
{
    Graph g = generate_barabasi_albert(100, 2, 3);
    LayoutParams params = params_with_theta(0.8);
    params.max_iterations = 100000;
    ForceLayout layout(g, params);
    while (!layout.converged())
        layout.step();
    CU_ASSERT(layout.iteration() < 100000);
    CU_ASSERT(layout.step_length() < params.min_step * params.ideal_distance);
}

/* Conditions, not clocks: every wait here is for a state, bounded by this generous deadline
 * (tests/README.md). */
static const auto kDeadline = std::chrono::seconds(60);

static void test_worker_publishes_changing_snapshots_until_converged(void)
{
    Graph g = generate_barabasi_albert(200, 2, 3);
    LayoutParams params = params_with_theta(0.8);
    params.max_iterations = 200;
    LayoutWorker worker(g, params);
    CU_ASSERT_EQUAL(worker.front().size(), 600u);
    CU_ASSERT_EQUAL(worker.front_progress().seq, 1u);
    std::vector<float> first = worker.front();
    worker.start();
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
        worker.take_snapshot();
        if (!worker.front_progress().running)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(2)); /* poll interval */
    }
    CU_ASSERT_FALSE(worker.front_progress().running);
    CU_ASSERT(worker.front_progress().iteration > 0);
    CU_ASSERT(worker.front_progress().energy > 0);
    CU_ASSERT(worker.front() != first);
    CU_ASSERT_FALSE(worker.take_snapshot());  /* nothing newer after the final one */
}

static void test_snapshot_never_waits_for_a_running_step(void)
{
    /* The worker is held inside its second step (a StepLatch); the render thread must still
     * get its snapshot, the newest one published before the step. The snapshot is taken on
     * another thread: if take_snapshot() waited for the step it would never return while the
     * latch is closed, which the deadline turns into a failure instead of a hang. */
    Graph g = generate_barabasi_albert(100, 2, 3);
    LayoutWorker worker(g, params_with_theta(0.8));
    StepLatch latch;
    latch.close();
    worker.set_step_hook([&](uint32_t iteration) {
        if (iteration == 2)
            latch.pass();
    });
    worker.start();
    CU_ASSERT_FATAL(latch.wait_holding(60000));
    std::mutex m;
    std::condition_variable cv;
    bool done = false, got = false, again = true;
    std::thread render([&] {
        bool g1 = worker.take_snapshot();
        bool g2 = worker.take_snapshot();
        std::lock_guard<std::mutex> lock(m);
        got = g1;
        again = g2;
        done = true;
        cv.notify_all();
    });
    bool returned;
    {
        std::unique_lock<std::mutex> lock(m);
        returned = cv.wait_for(lock, kDeadline, [&] { return done; });
    }
    CU_ASSERT_TRUE(latch.holding()); /* the step was still held when the snapshots came */
    latch.open();
    render.join();
    CU_ASSERT_TRUE(returned);
    CU_ASSERT_TRUE(got);
    CU_ASSERT_FALSE(again);
    CU_ASSERT_EQUAL(worker.front_progress().iteration, 1u);
    worker.stop();
}

static void test_worker_stops_mid_layout(void)
{
    Graph g = generate_barabasi_albert(3000, 2, 3);
    LayoutWorker worker(g, params_with_theta(0.8));
    worker.start();
    /* Mid-layout: the worker has published a step of its own. */
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (worker.front_progress().iteration == 0 && std::chrono::steady_clock::now() < deadline) {
        worker.take_snapshot();
        std::this_thread::sleep_for(std::chrono::milliseconds(2)); /* poll interval */
    }
    CU_ASSERT(worker.front_progress().iteration > 0);
    worker.stop();
    worker.take_snapshot();
    CU_ASSERT_FALSE(worker.front_progress().running);
}

static CU_TestInfo layout_tests[] = {
    {"potential_energy_decreases_on_small_graph", test_potential_energy_decreases_on_small_graph},
    {"forces_are_minus_gradient_of_potential", test_forces_are_minus_gradient_of_potential},
    {"barnes_hut_forces_close_to_exact", test_barnes_hut_forces_close_to_exact},
    {"barnes_hut_handles_coincident_nodes", test_barnes_hut_handles_coincident_nodes},
    {"layout_converges", test_layout_converges},
    {"worker_publishes_changing_snapshots_until_converged", test_worker_publishes_changing_snapshots_until_converged},
    {"snapshot_never_waits_for_a_running_step", test_snapshot_never_waits_for_a_running_step},
    {"worker_stops_mid_layout", test_worker_stops_mid_layout},
    CU_TEST_INFO_NULL};
static CU_SuiteInfo suites[] = {{"network_layout", NULL, NULL, NULL, NULL, layout_tests},
                                CU_SUITE_INFO_NULL};
SB_CUNIT_MAIN(suites)
