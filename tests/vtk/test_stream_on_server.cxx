// test_stream_on_server.cxx - sb_stream_create_on_server (issue #12): several VTK windows
// served by one server under their names, each window's picture on its own endpoints, a
// destroyed stream leaving the others, the argument checks, and both destroy orders (a server
// destroyed before its attached streams is no crash and no leak).
#include "sb_cunit.h"
#include "vtk_test_scene.h"

extern "C" {
#include "sb_test_http.h"
}

#include <turbojpeg.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

bool LastErrorHas(const char *text)
{
    return std::string(sb_last_error()).find(text) != std::string::npos;
}

sb_server *NewServer(int *port)
{
    sb_server_options o;
    sb_server_options_init(&o, SB_SERVER_OPTIONS_VERSION);
    o.port = 0;
    sb_server *srv = nullptr;
    CU_ASSERT_EQUAL_FATAL(sb_server_create(nullptr, nullptr, &o, &srv), SB_OK);
    sb_server_get_port(srv, port);
    return srv;
}

// The size of the JPEG GET path answers with (0x0 when it is not one).
void SnapshotSize(int port, const char *path, int *w, int *h)
{
    *w = *h = 0;
    st_response r;
    if (st_http_get(port, path, nullptr, 1 << 22, &r) != 0)
        return;
    tjhandle tj = tjInitDecompress();
    int subsamp = 0, colorspace = 0;
    if (r.status == 200 && tj &&
        tjDecompressHeader3(tj, reinterpret_cast<const unsigned char *>(r.body), r.len, w, h,
                            &subsamp, &colorspace) != 0)
        *w = *h = 0;
    if (tj)
        tjDestroy(tj);
    st_response_free(&r);
}

void test_two_windows_share_one_server()
{
    int port = 0;
    sb_server *srv = NewServer(&port);
    TestScene a = MakeScene(true, 320, 240), b = MakeScene(true, 200, 150);
    sb_stream *sa = nullptr, *sb = nullptr;
    CU_ASSERT_EQUAL_FATAL(sb_stream_create_on_server(srv, "left", a.window, nullptr, &sa), SB_OK);
    CU_ASSERT_EQUAL_FATAL(sb_stream_create_on_server(srv, "right", b.window, nullptr, &sb), SB_OK);
    CU_ASSERT(sb_stream_server(sa) == srv);
    CU_ASSERT_EQUAL(sb_stream_render(sa), SB_OK);
    CU_ASSERT_EQUAL(sb_stream_render(sb), SB_OK);
    // Each window's picture on its own endpoint.
    CU_ASSERT(st_http_until(port, "/v/left/snapshot.jpg", 200, nullptr, ST_DEADLINE_MS));
    CU_ASSERT(st_http_until(port, "/v/right/snapshot.jpg", 200, nullptr, ST_DEADLINE_MS));
    int w = 0, h = 0;
    SnapshotSize(port, "/v/left/snapshot.jpg", &w, &h);
    CU_ASSERT(w == 320 && h == 240);
    SnapshotSize(port, "/v/right/snapshot.jpg", &w, &h);
    CU_ASSERT(w == 200 && h == 150);
    CU_ASSERT(st_http_until(port, "/streams", 200, "\"name\":\"right\"", ST_DEADLINE_MS));

    // A shared server is not the stream's to start or stop.
    CU_ASSERT_EQUAL(sb_stream_serve(sa, nullptr), SB_ESTATE);
    CU_ASSERT(LastErrorHas("shared server"));

    // One stream goes; the other goes on.
    sb_stream_destroy(sa);
    CU_ASSERT_EQUAL(st_http_status(port, "/v/left/snapshot.jpg", nullptr), 404);
    CU_ASSERT_EQUAL(sb_stream_render(sb), SB_OK);
    CU_ASSERT_EQUAL(st_http_status(port, "/v/right/snapshot.jpg", nullptr), 200);
    sb_stream_destroy(sb);
    CU_ASSERT(st_http_until(port, "/streams", 200, "\"streams\":[]", ST_DEADLINE_MS));
    sb_server_destroy(srv);
}

void test_arguments_are_checked()
{
    int port = 0;
    sb_server *srv = NewServer(&port);
    TestScene a = MakeScene(true);
    sb_stream *s = reinterpret_cast<sb_stream *>(0x1);
    CU_ASSERT_EQUAL(sb_stream_create_on_server(nullptr, "x", a.window, nullptr, &s), SB_EINVAL);
    CU_ASSERT(s == nullptr);
    CU_ASSERT_EQUAL(sb_stream_create_on_server(srv, nullptr, a.window, nullptr, &s), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_stream_create_on_server(srv, "x", nullptr, nullptr, &s), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_stream_create_on_server(srv, "x", a.window, nullptr, nullptr), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_stream_create_on_server(srv, "../x", a.window, nullptr, &s), SB_EINVAL);
    CU_ASSERT(LastErrorHas("bad stream name"));
    CU_ASSERT_EQUAL(sb_stream_create_on_server(srv, "x", a.window, nullptr, &s), SB_OK);
    TestScene b = MakeScene(true);
    sb_stream *dup = nullptr;
    CU_ASSERT_EQUAL(sb_stream_create_on_server(srv, "x", b.window, nullptr, &dup), SB_EEXIST);
    CU_ASSERT(dup == nullptr);
    sb_stream_destroy(s);
    sb_server_destroy(srv);
}

// The documented rule is "destroy the streams first"; the other order must still be safe: the
// server stops serving at once, its memory waits for the last attached stream.
void test_server_destroyed_first_is_safe()
{
    int port = 0;
    sb_server *srv = NewServer(&port);
    TestScene a = MakeScene(true), b = MakeScene(true);
    sb_stream *sa = nullptr;
    CU_ASSERT_EQUAL_FATAL(sb_stream_create_on_server(srv, "default", a.window, nullptr, &sa),
                          SB_OK);
    CU_ASSERT_EQUAL(sb_stream_render(sa), SB_OK);
    // Named "default": the top-level endpoints serve it too.
    CU_ASSERT(st_http_until(port, "/snapshot.jpg", 200, nullptr, ST_DEADLINE_MS));
    sb_server_destroy(srv);
    CU_ASSERT_EQUAL(st_http_status(port, "/snapshot.jpg", nullptr), -1); // nobody listens
    sb_stream *sb = nullptr;
    CU_ASSERT_EQUAL(sb_stream_create_on_server(srv, "late", b.window, nullptr, &sb), SB_ESTATE);
    CU_ASSERT(LastErrorHas("destroyed"));
    CU_ASSERT_EQUAL(sb_stream_render(sa), SB_OK); // the window still renders and captures
    sb_stream_destroy(sa);                          // frees the server's memory
}

CU_TestInfo on_server_tests[] = {
    {"two_windows_share_one_server", test_two_windows_share_one_server},
    {"arguments_are_checked", test_arguments_are_checked},
    {"server_destroyed_first_is_safe", test_server_destroyed_first_is_safe},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
    {"stream_on_server", st_suite_init, nullptr, nullptr, nullptr, on_server_tests},
    CU_SUITE_INFO_NULL,
};

} // namespace

SB_CUNIT_MAIN(suites)
