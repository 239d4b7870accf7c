#include "layout.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sbnet {

namespace {

constexpr int kMaxTreeDepth = 32;  /* coincident nodes end up together in one deeper leaf */
constexpr uint32_t kLeafSize = 4;

inline Vec3 sub(const Vec3 &a, const Vec3 &b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline double dot(const Vec3 &a, const Vec3 &b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline void add_scaled(Vec3 &acc, const Vec3 &v, double s)
{
    acc.x += v.x * s;
    acc.y += v.y * s;
    acc.z += v.z * s;
}

}  // namespace

struct ForceLayout::Cell {
    Vec3 center;         /* geometric centre of the cube */
    double half = 0;     /* half the cube's edge */
    Vec3 mass_center;    /* mean position of the nodes inside */
    uint32_t count = 0;  /* nodes inside */
    uint32_t first = 0;  /* leaf: nodes order[first .. first+count) */
    int32_t first_child = -1;  /* inner cell: children cells [first_child, +child_count) */
    uint32_t child_count = 0;
};

ForceLayout::ForceLayout(const Graph &graph, const LayoutParams &params)
    : edges_(graph.edges), params_(params)
{
    const uint32_t n = graph.node_count;
    const double k = params_.ideal_distance;
    const double side = k * std::max(1.0, std::cbrt(static_cast<double>(n)));
    std::mt19937_64 rng(params_.seed);
    std::uniform_real_distribution<double> coord(-side / 2, side / 2);
    positions_.resize(n);
    for (auto &p : positions_)
        p = {coord(rng), coord(rng), coord(rng)};
    step_ = params_.initial_step > 0 ? params_.initial_step : std::max(k, side / 10);
    force_energy_ = std::numeric_limits<double>::infinity();
}

void ForceLayout::build_tree(std::vector<Cell> &cells, std::vector<uint32_t> &order) const
{
    const uint32_t n = static_cast<uint32_t>(positions_.size());
    cells.clear();
    order.resize(n);
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    if (n == 0)
        return;
    cells.push_back(root_cell());

    /* Breadth-first: each cell's children are appended contiguously. */
    std::vector<int> depth{0};
    std::vector<uint32_t> scratch;
    for (size_t ci = 0; ci < cells.size(); ci++) {
        Cell &c = cells[ci];
        Vec3 mc;
        for (uint32_t i = c.first; i < c.first + c.count; i++)
            add_scaled(mc, positions_[order[i]], 1.0);
        add_scaled(c.mass_center, mc, 1.0 / c.count);
        if (c.count <= kLeafSize || depth[ci] >= kMaxTreeDepth)
            continue;
        uint32_t children = split_cell(ci, cells, order, scratch);
        depth.insert(depth.end(), children, depth[ci] + 1);
    }
}

ForceLayout::Cell ForceLayout::root_cell() const
{
    Vec3 lo = positions_[0], hi = positions_[0];
    for (const auto &p : positions_) {
        lo = {std::min(lo.x, p.x), std::min(lo.y, p.y), std::min(lo.z, p.z)};
        hi = {std::max(hi.x, p.x), std::max(hi.y, p.y), std::max(hi.z, p.z)};
    }
    Cell root;
    root.center = {(lo.x + hi.x) / 2, (lo.y + hi.y) / 2, (lo.z + hi.z) / 2};
    root.half = std::max({hi.x - lo.x, hi.y - lo.y, hi.z - lo.z}) / 2 * 1.0001 + 1e-9;
    root.first = 0;
    root.count = static_cast<uint32_t>(positions_.size());
    return root;
}

uint32_t ForceLayout::split_cell(size_t ci, std::vector<Cell> &cells, std::vector<uint32_t> &order,
                                 std::vector<uint32_t> &scratch) const
{
    const Cell c = cells[ci];  /* a copy: appending the children may move the cells */
    /* Counting sort of this cell's nodes into octants. */
    uint32_t counts[8] = {0};
    auto octant = [&](const Vec3 &p) {
        return (p.x >= c.center.x ? 1 : 0) | (p.y >= c.center.y ? 2 : 0) |
               (p.z >= c.center.z ? 4 : 0);
    };
    for (uint32_t i = c.first; i < c.first + c.count; i++)
        counts[octant(positions_[order[i]])]++;
    uint32_t offsets[8];
    uint32_t running = 0;
    for (int o = 0; o < 8; o++) {
        offsets[o] = running;
        running += counts[o];
    }
    scratch.assign(order.begin() + c.first, order.begin() + c.first + c.count);
    uint32_t fill[8];
    std::copy(offsets, offsets + 8, fill);
    for (uint32_t node : scratch)
        order[c.first + fill[octant(positions_[node])]++] = node;

    cells[ci].first_child = static_cast<int32_t>(cells.size());
    for (int o = 0; o < 8; o++) {
        if (counts[o] == 0)
            continue;
        Cell child;
        child.half = c.half / 2;
        child.center = {c.center.x + ((o & 1) ? child.half : -child.half),
                        c.center.y + ((o & 2) ? child.half : -child.half),
                        c.center.z + ((o & 4) ? child.half : -child.half)};
        child.first = c.first + offsets[o];
        child.count = counts[o];
        cells.push_back(child);
        cells[ci].child_count++;
    }
    return cells[ci].child_count;
}

void ForceLayout::compute_forces(std::vector<Vec3> &out, double theta) const
{
    out.assign(positions_.size(), Vec3{});
    if (theta <= 0)
        add_exact_repulsion(out);
    else
        add_tree_repulsion(out, theta);
    /* Attraction d^2/k along every edge. */
    const double k = params_.ideal_distance;
    for (const auto &e : edges_) {
        Vec3 d = sub(positions_[e.first], positions_[e.second]);
        double dist = std::sqrt(dot(d, d));
        add_scaled(out[e.first], d, -dist / k);
        add_scaled(out[e.second], d, dist / k);
    }
    for (size_t i = 0; i < positions_.size(); i++)
        add_scaled(out[i], positions_[i], -params_.gravity);
}

void ForceLayout::repel(Vec3 &force, size_t i, const Vec3 &from, double weight) const
{
    const double k = params_.ideal_distance;
    Vec3 d = sub(positions_[i], from);
    double d2 = dot(d, d);
    if (d2 < 1e-18) {
        /* Coincident nodes: push apart along a direction fixed by the index, so they
         * separate deterministically instead of staying stuck. */
        d = {std::cos(static_cast<double>(i)), std::sin(static_cast<double>(i)), 0.5};
        d2 = dot(d, d);
    }
    add_scaled(force, d, weight * (k * k) / d2);
}

void ForceLayout::add_exact_repulsion(std::vector<Vec3> &out) const
{
    const size_t n = positions_.size();
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (i != j)
                repel(out[i], i, positions_[j], 1.0);
}

void ForceLayout::add_tree_repulsion(std::vector<Vec3> &out, double theta) const
{
    std::vector<Cell> cells;
    std::vector<uint32_t> order;
    build_tree(cells, order);
    std::vector<uint32_t> stack;
    for (size_t i = 0; i < positions_.size(); i++) {
        const Vec3 &p = positions_[i];
        stack.assign(1, 0);
        while (!stack.empty()) {
            const Cell &c = cells[stack.back()];
            stack.pop_back();
            if (c.first_child < 0) {
                for (uint32_t s = c.first; s < c.first + c.count; s++)
                    if (order[s] != i)
                        repel(out[i], i, positions_[order[s]], 1.0);
                continue;
            }
            /* A cell far enough away (seen under an angle below theta) and not around p acts
             * as one body at its mass centre; else its children are looked at. */
            Vec3 d = sub(p, c.mass_center);
            double dist = std::sqrt(dot(d, d));
            bool outside = std::fabs(p.x - c.center.x) > c.half ||
                           std::fabs(p.y - c.center.y) > c.half ||
                           std::fabs(p.z - c.center.z) > c.half;
            if (outside && 2 * c.half < theta * dist) {
                repel(out[i], i, c.mass_center, static_cast<double>(c.count));
            } else {
                for (uint32_t ch = 0; ch < c.child_count; ch++)
                    stack.push_back(static_cast<uint32_t>(c.first_child) + ch);
            }
        }
    }
}

double ForceLayout::potential_energy() const
{
    const double k = params_.ideal_distance;
    double e = 0;
    for (const auto &edge : edges_) {
        Vec3 d = sub(positions_[edge.first], positions_[edge.second]);
        double dist = std::sqrt(dot(d, d));
        e += dist * dist * dist / (3 * k);
    }
    for (size_t i = 0; i < positions_.size(); i++) {
        for (size_t j = i + 1; j < positions_.size(); j++) {
            Vec3 d = sub(positions_[i], positions_[j]);
            e -= k * k * 0.5 * std::log(std::max(dot(d, d), 1e-18));
        }
        e += params_.gravity * dot(positions_[i], positions_[i]) / 2;
    }
    return e;
}

void ForceLayout::step()
{
    compute_forces(forces_, params_.theta);
    double energy = 0;
    for (size_t i = 0; i < positions_.size(); i++) {
        double f2 = dot(forces_[i], forces_[i]);
        energy += f2;
        double f = std::sqrt(f2);
        if (f > 0)
            add_scaled(positions_[i], forces_[i], step_ / f);
    }
    /* Hu's adaptive cooling: grow the step after five improvements in a row, shrink it as soon
     * as the energy rises. */
    if (energy < force_energy_) {
        if (++progress_ >= 5) {
            progress_ = 0;
            step_ /= params_.cooling;
        }
    } else {
        progress_ = 0;
        step_ *= params_.cooling;
    }
    force_energy_ = energy;
    iteration_++;
}

bool ForceLayout::converged() const
{
    return positions_.size() < 2 || iteration_ >= params_.max_iterations ||
           step_ < params_.min_step * params_.ideal_distance;
}

LayoutWorker::LayoutWorker(const Graph &graph, const LayoutParams &params)
    : layout_(graph, params)
{
    size_t floats = static_cast<size_t>(graph.node_count) * 3;
    back_.resize(floats);
    middle_.resize(floats);
    front_.resize(floats);
    publish(true);  /* the initial positions, so the render thread has something to draw */
    take_snapshot();
}

LayoutWorker::~LayoutWorker() { stop(); }

void LayoutWorker::start()
{
    if (thread_.joinable())
        return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void LayoutWorker::stop()
{
    stop_ = true;
    if (thread_.joinable())
        thread_.join();
}

void LayoutWorker::run()
{
#if defined(__linux__)
    /* Lower this thread's priority (Linux nice is per thread): on a loaded machine the render
     * and server threads come first, the layout takes what is left. */
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 5);
#endif
    while (!stop_ && !layout_.converged()) {
        layout_.step();
        if (step_hook_)
            step_hook_(layout_.iteration());
        publish(!layout_.converged());
    }
    publish(false);
}

void LayoutWorker::publish(bool running)
{
    const auto &p = layout_.positions();
    for (size_t i = 0; i < p.size(); i++) {
        back_[3 * i] = static_cast<float>(p[i].x);
        back_[3 * i + 1] = static_cast<float>(p[i].y);
        back_[3 * i + 2] = static_cast<float>(p[i].z);
    }
    back_progress_.iteration = layout_.iteration();
    back_progress_.energy = layout_.iteration() ? layout_.force_energy() : 0.0;
    back_progress_.step_length = layout_.step_length();
    back_progress_.running = running;
    std::lock_guard<std::mutex> lock(swap_mutex_);
    back_progress_.seq = ++published_seq_;
    std::swap(back_, middle_);
    std::swap(back_progress_, middle_progress_);
}

bool LayoutWorker::take_snapshot()
{
    std::lock_guard<std::mutex> lock(swap_mutex_);
    if (middle_progress_.seq <= front_progress_.seq)
        return false;
    std::swap(front_, middle_);
    std::swap(front_progress_, middle_progress_);
    return true;
}

void StepLatch::pass()
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (!closed_)
        return;
    holding_ = true;
    changed_.notify_all();
    changed_.wait(lock, [this] { return !closed_; });
    holding_ = false;
    changed_.notify_all();
}

void StepLatch::close()
{
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
}

void StepLatch::open()
{
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = false;
    changed_.notify_all();
}

bool StepLatch::holding() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return holding_;
}

bool StepLatch::wait_holding(int timeout_ms) const
{
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return holding_; });
}

}  // namespace sbnet
