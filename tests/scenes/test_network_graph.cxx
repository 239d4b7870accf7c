/* Edge-list parser and Barabasi-Albert generator of the network demo scene. */
#include "graph.h"
#include "sb_cunit.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>

using sbnet::Graph;
using sbnet::ParseResult;

static ParseResult parse(const std::string &text, Graph *g)
{
    std::istringstream in(text);
    return sbnet::parse_edge_list(in, "g.txt", g);
}

static void test_parses_pairs_comments_and_blank_lines(void)
{
    Graph g;
    ParseResult r = parse("# a triangle\n\na b\n  b c   # trailing comment\n\tc a\n\n", &g);
    CU_ASSERT_TRUE(r.ok);
    CU_ASSERT_EQUAL(r.errors.size(), 0u);
    CU_ASSERT_EQUAL(g.node_count, 3u);
    CU_ASSERT_EQUAL(g.edges.size(), 3u);
    CU_ASSERT_EQUAL(g.node_names[0], "a");
    CU_ASSERT_EQUAL(g.node_names[2], "c");
    CU_ASSERT(g.edges[2] == std::make_pair(2u, 0u));
}

static void test_numeric_ids_are_names_in_order_of_appearance(void)
{
    Graph g;
    ParseResult r = parse("10 20\n20 5\n", &g);
    CU_ASSERT_TRUE(r.ok);
    CU_ASSERT_EQUAL(g.node_count, 3u);
    CU_ASSERT(g.edges[1] == std::make_pair(1u, 2u));
}

static void test_malformed_lines_reported_with_file_and_line(void)
{
    Graph g;
    g.node_count = 42;  /* must stay untouched on failure */
    ParseResult r = parse("a b\nlonely\n# ok\nx y z\nc d\n", &g);
    CU_ASSERT_FALSE(r.ok);
    CU_ASSERT_EQUAL(r.malformed_lines, 2u);
    CU_ASSERT_EQUAL_FATAL(r.errors.size(), 2u);
    CU_ASSERT_EQUAL(r.errors[0].rfind("g.txt:2: ", 0), 0u);
    CU_ASSERT_NOT_EQUAL(r.errors[0].find("found 1 field"), std::string::npos);
    CU_ASSERT_EQUAL(r.errors[1].rfind("g.txt:4: ", 0), 0u);
    CU_ASSERT_NOT_EQUAL(r.errors[1].find("found 3 fields"), std::string::npos);
    CU_ASSERT_EQUAL(g.node_count, 42u);
}

static void test_error_list_is_capped_but_counts_all(void)
{
    std::string text;
    for (int i = 0; i < 50; i++)
        text += "bad\n";
    Graph g;
    std::istringstream in(text);
    ParseResult r = sbnet::parse_edge_list(in, "g.txt", &g, 5);
    CU_ASSERT_FALSE(r.ok);
    CU_ASSERT_EQUAL(r.malformed_lines, 50u);
    CU_ASSERT_EQUAL_FATAL(r.errors.size(), 6u);
    CU_ASSERT_NOT_EQUAL(r.errors[5].find("45 more"), std::string::npos);
}

static void test_file_without_edges_is_an_error(void)
{
    Graph g;
    ParseResult r = parse("# nothing\n\n", &g);
    CU_ASSERT_FALSE(r.ok);
    CU_ASSERT_EQUAL_FATAL(r.errors.size(), 1u);
    CU_ASSERT_NOT_EQUAL(r.errors[0].find("no edges"), std::string::npos);
}

static void test_missing_file_is_reported_with_its_path(void)
{
    Graph g;
    ParseResult r = sbnet::load_edge_list("/nonexistent/sb-graph.txt", &g);
    CU_ASSERT_FALSE(r.ok);
    CU_ASSERT_EQUAL_FATAL(r.errors.size(), 1u);
    CU_ASSERT_EQUAL(r.errors[0].rfind("/nonexistent/sb-graph.txt: cannot open", 0), 0u);
}

static void test_load_reads_a_real_file(void)
{
    char path[] = "/tmp/sb-graph-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    const char text[] = "1 2\n2 3\n";
    CU_ASSERT_EQUAL(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    Graph g;
    ParseResult r = sbnet::load_edge_list(path, &g);
    unlink(path);
    CU_ASSERT_TRUE(r.ok);
    CU_ASSERT_EQUAL(g.edges.size(), 2u);
}

static void test_barabasi_albert_has_expected_size_and_no_duplicates(void)
{
    const uint32_t n = 500, m = 2;
    Graph g = sbnet::generate_barabasi_albert(n, m, 7);
    CU_ASSERT_EQUAL(g.node_count, n);
    /* clique of m+1 nodes, then m edges per further node */
    CU_ASSERT_EQUAL(g.edges.size(), (size_t)(m * (m + 1) / 2 + (n - m - 1) * m));
    std::set<std::pair<uint32_t, uint32_t>> seen;
    for (auto e : g.edges) {
        CU_ASSERT(e.first != e.second);
        CU_ASSERT(e.first < n && e.second < n);
        auto key = std::minmax(e.first, e.second);
        CU_ASSERT(seen.insert(key).second);
    }
}

static void test_barabasi_albert_is_scale_free_ish(void)
{
    /* Preferential attachment grows hubs: the largest degree is far above the mean (2m). */
    Graph g = sbnet::generate_barabasi_albert(2000, 2, 3);
    auto d = g.degrees();
    uint32_t max_degree = *std::max_element(d.begin(), d.end());
    CU_ASSERT(max_degree > 10 * 4);
}

static void test_barabasi_albert_is_deterministic_per_seed(void)
{
    Graph a = sbnet::generate_barabasi_albert(300, 3, 11);
    Graph b = sbnet::generate_barabasi_albert(300, 3, 11);
    Graph c = sbnet::generate_barabasi_albert(300, 3, 12);
    CU_ASSERT(a.edges == b.edges);
    CU_ASSERT(a.edges != c.edges);
}

static void test_barabasi_albert_rejects_impossible_sizes(void)
{
    CU_ASSERT_EQUAL(sbnet::generate_barabasi_albert(2, 2, 1).node_count, 0u);
    CU_ASSERT_EQUAL(sbnet::generate_barabasi_albert(10, 0, 1).node_count, 0u);
}

static CU_TestInfo graph_tests[] = {
    {"parses_pairs_comments_and_blank_lines", test_parses_pairs_comments_and_blank_lines},
    {"numeric_ids_are_names_in_order_of_appearance", test_numeric_ids_are_names_in_order_of_appearance},
    {"malformed_lines_reported_with_file_and_line", test_malformed_lines_reported_with_file_and_line},
    {"error_list_is_capped_but_counts_all", test_error_list_is_capped_but_counts_all},
    {"file_without_edges_is_an_error", test_file_without_edges_is_an_error},
    {"missing_file_is_reported_with_its_path", test_missing_file_is_reported_with_its_path},
    {"load_reads_a_real_file", test_load_reads_a_real_file},
    {"barabasi_albert_has_expected_size_and_no_duplicates", test_barabasi_albert_has_expected_size_and_no_duplicates},
    {"barabasi_albert_is_scale_free_ish", test_barabasi_albert_is_scale_free_ish},
    {"barabasi_albert_is_deterministic_per_seed", test_barabasi_albert_is_deterministic_per_seed},
    {"barabasi_albert_rejects_impossible_sizes", test_barabasi_albert_rejects_impossible_sizes},
    CU_TEST_INFO_NULL};
static CU_SuiteInfo suites[] = {{"network_graph", NULL, NULL, NULL, NULL, graph_tests},
                                CU_SUITE_INFO_NULL};
SB_CUNIT_MAIN(suites)
