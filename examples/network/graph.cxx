#include "graph.h"

#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <cerrno>
#include <cstring>

namespace sbnet {

std::vector<uint32_t> Graph::degrees() const
{
    std::vector<uint32_t> d(node_count, 0);
    for (const auto &e : edges) {
        d[e.first]++;
        d[e.second]++;
    }
    return d;
}

namespace {

/* The whitespace-separated fields of one line, '#' to the end of the line being a comment. */
std::vector<std::string> fields_of(std::string line)
{
    size_t hash = line.find('#');
    if (hash != std::string::npos)
        line.erase(hash);
    std::istringstream fields(line);
    std::vector<std::string> tokens;
    std::string token;
    while (fields >> token)
        tokens.push_back(token);
    return tokens;
}

std::string malformed_line_error(const std::string &source_name, size_t line_no, size_t fields)
{
    return source_name + ":" + std::to_string(line_no) + ": expected two node names \"a b\", found " +
           std::to_string(fields) + " field" + (fields == 1 ? "" : "s");
}

}  // namespace

ParseResult parse_edge_list(std::istream &in, const std::string &source_name, Graph *out,
                            size_t max_errors)
{
    ParseResult result;
    Graph g;
    std::unordered_map<std::string, uint32_t> index_of;
    auto node = [&](const std::string &name) {
        auto it = index_of.find(name);
        if (it != index_of.end())
            return it->second;
        uint32_t id = static_cast<uint32_t>(g.node_names.size());
        index_of.emplace(name, id);
        g.node_names.push_back(name);
        return id;
    };

    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
        line_no++;
        std::vector<std::string> tokens = fields_of(line);
        if (tokens.empty())
            continue;
        if (tokens.size() != 2) {
            result.malformed_lines++;
            if (result.errors.size() < max_errors)
                result.errors.push_back(malformed_line_error(source_name, line_no, tokens.size()));
            continue;
        }
        uint32_t a = node(tokens[0]);
        uint32_t b = node(tokens[1]);
        g.edges.emplace_back(a, b);
    }
    if (in.bad()) {
        result.errors.push_back(source_name + ": read error");
        return result;
    }
    if (result.malformed_lines > result.errors.size()) {
        result.errors.push_back(source_name + ": " +
                                std::to_string(result.malformed_lines - result.errors.size()) +
                                " more malformed lines not shown");
    }
    if (result.malformed_lines == 0 && g.edges.empty()) {
        result.errors.push_back(source_name + ": no edges found");
        return result;
    }
    if (result.malformed_lines == 0) {
        g.node_count = static_cast<uint32_t>(g.node_names.size());
        *out = std::move(g);
        result.ok = true;
    }
    return result;
}

ParseResult load_edge_list(const std::string &path, Graph *out, size_t max_errors)
{
    std::ifstream file(path);
    if (!file) {
        ParseResult result;
        result.errors.push_back(path + ": cannot open: " + std::strerror(errno));
        return result;
    }
    return parse_edge_list(file, path, out, max_errors);
}

Graph generate_barabasi_albert(uint32_t node_count, uint32_t edges_per_node, uint64_t seed)
{
    Graph g;
    if (edges_per_node < 1 || node_count <= edges_per_node)
        return g;
    g.node_count = node_count;
    std::mt19937_64 rng(seed);
    /* Every edge endpoint appears once in this list, so a uniform pick from it is a pick
     * proportional to degree. */
    std::vector<uint32_t> endpoints;
    endpoints.reserve(static_cast<size_t>(node_count) * edges_per_node * 2);
    uint32_t seed_nodes = edges_per_node + 1;
    for (uint32_t a = 0; a < seed_nodes; a++) {
        for (uint32_t b = a + 1; b < seed_nodes; b++) {
            g.edges.emplace_back(a, b);
            endpoints.push_back(a);
            endpoints.push_back(b);
        }
    }
    std::vector<uint32_t> targets;
    for (uint32_t v = seed_nodes; v < node_count; v++) {
        targets.clear();
        while (targets.size() < edges_per_node) {
            std::uniform_int_distribution<size_t> pick(0, endpoints.size() - 1);
            uint32_t t = endpoints[pick(rng)];
            bool seen = false;
            for (uint32_t u : targets)
                seen = seen || u == t;
            if (!seen)
                targets.push_back(t);
        }
        for (uint32_t t : targets) {
            g.edges.emplace_back(v, t);
            endpoints.push_back(v);
            endpoints.push_back(t);
        }
    }
    return g;
}

}  // namespace sbnet
