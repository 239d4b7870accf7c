/* graph.h - the demo's graph sources: an edge-list file parser and a Barabasi-Albert generator.
 * Plain C++17, no VTK and no streambridge, so the tests can call it directly. */
#ifndef SB_DEMO_NETWORK_GRAPH_H
#define SB_DEMO_NETWORK_GRAPH_H

#include <cstdint>
#include <istream>
#include <string>
#include <utility>
#include <vector>

namespace sbnet {

struct Graph {
    uint32_t node_count = 0;
    /* Undirected edges between node indices < node_count. */
    std::vector<std::pair<uint32_t, uint32_t>> edges;
    /* Optional: the file's name for each node (edge lists name nodes by token). */
    std::vector<std::string> node_names;

    std::vector<uint32_t> degrees() const;
};

struct ParseResult {
    bool ok = false;
    /* One message per malformed line, "FILE:LINE: reason" (at most max_errors kept), or the
     * reason the file could not be read. */
    std::vector<std::string> errors;
    size_t malformed_lines = 0;  /* all of them, also those past max_errors */
};

/* Parses an edge list: one "a b" pair per line (node names are any whitespace-free tokens,
 * numbered in order of first appearance), '#' starts a comment, blank lines are allowed. A line
 * with another number of fields is malformed. The graph is filled only when ok. source_name
 * prefixes the messages. */
ParseResult parse_edge_list(std::istream &in, const std::string &source_name, Graph *out,
                            size_t max_errors = 20);
/* Opens path and parses it; an unreadable file is reported as an error too. */
ParseResult load_edge_list(const std::string &path, Graph *out, size_t max_errors = 20);

/* Scale-free graph by preferential attachment: starts from a clique of edges_per_node + 1
 * nodes, then each new node links to edges_per_node distinct existing nodes chosen with
 * probability proportional to their degree. Deterministic for a given seed.
 * node_count must be > edges_per_node >= 1 (otherwise an empty graph is returned). */
Graph generate_barabasi_albert(uint32_t node_count, uint32_t edges_per_node, uint64_t seed);

}  // namespace sbnet

#endif
