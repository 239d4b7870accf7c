/* test_server_api.c - the server's public structs across versions (options and stats), the one
 * options table (SB_SERVER_OPTIONS_INIT == sb_server_options_init), and sb_server_get_stats as a
 * pure read (nothing a reader does changes what the next reader sees). */
#include "sb_test_http.h"
#include "sb_test_server.h"
#include "sb_test_wait.h"
#include "sb_cunit.h"

#include <stddef.h>
#include <stdlib.h>

#define W 64
#define H 48

/* Bytes of a version 1 sb_server_options: through send_timeout_ms. */
#define OPTIONS_V1_SIZE offsetof(sb_server_options, max_clients_per_address)
/* Bytes of a version 2 sb_server_options: through ack_timeout_ms. */
#define OPTIONS_V2_SIZE offsetof(sb_server_options, video_codecs)
/* Bytes of a version 1 sb_server_stats: through delivered_fps, its last field. Stays true when
 * later versions append fields. */
#define STATS_V1_SIZE (offsetof(sb_server_stats, delivered_fps) + sizeof(double))

static sb_frame_ring *new_ring(void)
{
    sb_frame_ring_options ro = SB_FRAME_RING_OPTIONS_INIT;
    ro.max_width = W;
    ro.max_height = H;
    sb_frame_ring *ring = NULL;
    CU_ASSERT_EQUAL_FATAL(sb_frame_ring_create(&ro, &ring), SB_OK);
    return ring;
}

/* The int fields of sb_server_options (version 3). */
static const size_t int_fields[] = {
    offsetof(sb_server_options, port),
    offsetof(sb_server_options, jpeg_quality_interactive),
    offsetof(sb_server_options, jpeg_quality_still),
    offsetof(sb_server_options, still_delay_ms),
    offsetof(sb_server_options, max_clients),
    offsetof(sb_server_options, max_message_bytes),
    offsetof(sb_server_options, max_events_per_second),
    offsetof(sb_server_options, num_threads),
    offsetof(sb_server_options, send_timeout_ms),
    offsetof(sb_server_options, max_clients_per_address),
    offsetof(sb_server_options, ack_timeout_ms),
    offsetof(sb_server_options, video_crf),
    offsetof(sb_server_options, video_max_kbps),
    offsetof(sb_server_options, keyframe_min_interval_ms),
    offsetof(sb_server_options, keyframe_interval_ms),
    offsetof(sb_server_options, rtp_port),
    offsetof(sb_server_options, rtp_rtcp_port),
    offsetof(sb_server_options, rtp_payload_type),
    offsetof(sb_server_options, rtp_mtu),
    offsetof(sb_server_options, rtp_keyframe_interval_ms),
    offsetof(sb_server_options, rtp_mountpoint_id),
};

static bool same_string(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int int_at(const sb_server_options *o, size_t offset)
{
    int v;
    memcpy(&v, (const char *)o + offset, sizeof v);
    return v;
}

/* Field by field (no memcmp: padding bytes are not part of the value). */
static void assert_same_options(const sb_server_options *a, const sb_server_options *b)
{
    CU_ASSERT_EQUAL(a->version, b->version);
    CU_ASSERT((a->bind_address == NULL) == (b->bind_address == NULL));
    if (a->bind_address && b->bind_address)
        CU_ASSERT_STRING_EQUAL(a->bind_address, b->bind_address);
    CU_ASSERT_DOUBLE_EQUAL(a->max_fps, b->max_fps, 0.0);
    CU_ASSERT_PTR_EQUAL(a->access_token, b->access_token);
    CU_ASSERT_PTR_EQUAL(a->allowed_origins, b->allowed_origins);
    CU_ASSERT(same_string(a->video_codecs, b->video_codecs));
    CU_ASSERT(same_string(a->default_codec, b->default_codec));
    CU_ASSERT(same_string(a->rtp_host, b->rtp_host));
    CU_ASSERT(same_string(a->rtp_codec, b->rtp_codec));
    CU_ASSERT(same_string(a->rtp_janus_url, b->rtp_janus_url));
    for (size_t i = 0; i < sizeof int_fields / sizeof int_fields[0]; i++)
        CU_ASSERT_EQUAL(int_at(a, int_fields[i]), int_at(b, int_fields[i]));
}

static void test_options_init_macro_equals_init_function(void)
{
    const sb_server_options macro = SB_SERVER_OPTIONS_INIT;
    sb_server_options fn;
    memset(&fn, 0xA5, sizeof fn);
    CU_ASSERT_EQUAL(sb_server_options_init(&fn, SB_SERVER_OPTIONS_VERSION), SB_OK);
    assert_same_options(&macro, &fn);
    CU_ASSERT_STRING_EQUAL(fn.bind_address, SB_SERVER_DEFAULT_BIND_ADDRESS);
    CU_ASSERT_EQUAL(fn.port, SB_SERVER_DEFAULT_PORT);
    CU_ASSERT_EQUAL(fn.ack_timeout_ms, SB_SERVER_DEFAULT_ACK_TIMEOUT_MS);
}

static void test_options_init_of_each_version_gives_its_defaults(void)
{
    const sb_server_options defaults = SB_SERVER_OPTIONS_INIT;
    sb_server_options v3;
    CU_ASSERT_EQUAL(sb_server_options_init(&v3, SB_SERVER_OPTIONS_VERSION), SB_OK);
    assert_same_options(&v3, &defaults);
    CU_ASSERT_EQUAL(v3.keyframe_min_interval_ms, SB_SERVER_DEFAULT_KEYFRAME_MIN_INTERVAL_MS);
    CU_ASSERT_EQUAL(v3.video_crf, SB_SERVER_DEFAULT_VIDEO_CRF);
    CU_ASSERT_STRING_EQUAL(v3.default_codec, "jpeg");

    /* Version 2 writes only its own bytes: the video fields of a bigger struct are left alone. */
    sb_server_options v2;
    memset(&v2, 0x5A, sizeof v2);
    CU_ASSERT_EQUAL(sb_server_options_init(&v2, 2), SB_OK);
    CU_ASSERT_EQUAL(v2.version, 2);
    CU_ASSERT_EQUAL(v2.ack_timeout_ms, SB_SERVER_DEFAULT_ACK_TIMEOUT_MS);
    const unsigned char *tail2 = (const unsigned char *)&v2 + OPTIONS_V2_SIZE;
    for (size_t i = 0; i < sizeof v2 - OPTIONS_V2_SIZE; i++)
        CU_ASSERT_EQUAL(tail2[i], 0x5A);

    /* Version 1 writes only its own bytes: the rest of a bigger struct is left alone. */
    sb_server_options v1;
    memset(&v1, 0x5A, sizeof v1);
    CU_ASSERT_EQUAL(sb_server_options_init(&v1, 1), SB_OK);
    CU_ASSERT_EQUAL(v1.version, 1);
    CU_ASSERT_EQUAL(v1.port, SB_SERVER_DEFAULT_PORT);
    CU_ASSERT_EQUAL(v1.send_timeout_ms, SB_SERVER_DEFAULT_SEND_TIMEOUT_MS);
    CU_ASSERT_DOUBLE_EQUAL(v1.max_fps, SB_SERVER_DEFAULT_MAX_FPS, 0.0);
    const unsigned char *tail = (const unsigned char *)&v1 + OPTIONS_V1_SIZE;
    for (size_t i = 0; i < sizeof v1 - OPTIONS_V1_SIZE; i++)
        CU_ASSERT_EQUAL(tail[i], 0x5A);

    CU_ASSERT_EQUAL(sb_server_options_init(&v1, 0), SB_EVERSION);
    CU_ASSERT_EQUAL(sb_server_options_init(&v1, SB_SERVER_OPTIONS_VERSION + 1), SB_EVERSION);
    CU_ASSERT_EQUAL(sb_server_options_init(NULL, 1), SB_EINVAL);
}

/* A caller built against the 0.1 header passes exactly OPTIONS_V1_SIZE bytes (ASan catches a
 * read past them); the fields it lacks take their defaults. */
static void test_v1_sized_options_are_accepted_with_defaults_for_the_rest(void)
{
    sb_server_options local;
    CU_ASSERT_EQUAL(sb_server_options_init(&local, 1), SB_OK);
    local.port = 0;
    void *v1 = malloc(OPTIONS_V1_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v1);
    memcpy(v1, &local, OPTIONS_V1_SIZE);
    sb_frame_ring *ring = new_ring();
    sb_server *srv = NULL;
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, (const sb_server_options *)v1, &srv), SB_OK);
    CU_ASSERT_PTR_NOT_NULL(srv);
    sb_server_destroy(srv);
    free(v1);
    sb_frame_ring_destroy(ring);
}

/* The same for a caller built against the 0.2 header (version 2): no video fields at all. */
static void test_v2_sized_options_are_accepted_with_defaults_for_the_rest(void)
{
    sb_server_options local;
    CU_ASSERT_EQUAL(sb_server_options_init(&local, 2), SB_OK);
    local.port = 0;
    void *v2 = malloc(OPTIONS_V2_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v2);
    memcpy(v2, &local, OPTIONS_V2_SIZE);
    sb_frame_ring *ring = new_ring();
    sb_server *srv = NULL;
    CU_ASSERT_EQUAL(sb_server_create(ring, NULL, (const sb_server_options *)v2, &srv), SB_OK);
    CU_ASSERT_PTR_NOT_NULL(srv);
    sb_server_destroy(srv);
    free(v2);
    sb_frame_ring_destroy(ring);
}

/* video_codecs and default_codec: names checked, the default among the allowed. */
static void test_codec_options_are_checked(void)
{
    struct { const char *codecs, *def; int rc; const char *says; } cases[] = {
        {NULL, NULL, SB_OK, NULL},
        {"", "h264", SB_OK, NULL},
        {"h264,vp8", "vp8", SB_OK, NULL},
        {"jpeg", "jpeg", SB_OK, NULL},
        {"vp8", "jpeg", SB_OK, NULL}, /* JPEG is always allowed */
        {"h264,av1", NULL, SB_EINVAL, "video_codecs"},
        {"h264,", NULL, SB_EINVAL, "video_codecs"},
        {NULL, "mpeg2", SB_EINVAL, "default_codec"},
        {"vp8", "h264", SB_EINVAL, "default_codec h264 is not in video_codecs"},
    };
    sb_frame_ring *ring = new_ring();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sb_server_options o = SB_SERVER_OPTIONS_INIT;
        o.port = 0;
        o.num_threads = 4;
        o.video_codecs = cases[i].codecs;
        o.default_codec = cases[i].def;
        sb_server *srv = NULL;
        int rc = sb_server_create(ring, NULL, &o, &srv);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        if (cases[i].says)
            CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), cases[i].says));
        sb_server_destroy(srv);
    }
    sb_frame_ring_destroy(ring);
}

static void test_options_version_0_and_4_are_refused(void)
{
    sb_frame_ring *ring = new_ring();
    unsigned bad[] = {0, SB_SERVER_OPTIONS_VERSION + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sb_server_options o = SB_SERVER_OPTIONS_INIT;
        o.version = bad[i];
        o.port = 0;
        sb_server *srv = NULL;
        CU_ASSERT_EQUAL(sb_server_create(ring, NULL, &o, &srv), SB_EVERSION);
        CU_ASSERT_PTR_NULL(srv);
        CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "1..4"));
    }
    sb_frame_ring_destroy(ring);
}

/* The range of each numeric option, from the library's one table: just inside is accepted, just
 * outside is refused with a message naming the field. */
static void test_option_ranges_accept_edges_and_refuse_beyond(void)
{
    sb_frame_ring *ring = new_ring();
    struct { const char *name; size_t off; int lo, hi; } ints[] = {
        {"jpeg_quality_interactive", offsetof(sb_server_options, jpeg_quality_interactive), 1, 100},
        {"still_delay_ms", offsetof(sb_server_options, still_delay_ms), 0, 60000},
        {"max_clients", offsetof(sb_server_options, max_clients), 1, 1024},
        {"max_clients_per_address", offsetof(sb_server_options, max_clients_per_address), 0, 1024},
        {"ack_timeout_ms", offsetof(sb_server_options, ack_timeout_ms), 100, 3600000},
        {"video_crf", offsetof(sb_server_options, video_crf), -1, 63},
        {"video_max_kbps", offsetof(sb_server_options, video_max_kbps), 0, 1000000},
        {"keyframe_min_interval_ms", offsetof(sb_server_options, keyframe_min_interval_ms), 0,
         60000},
        {"keyframe_interval_ms", offsetof(sb_server_options, keyframe_interval_ms), 0, 3600000},
        {"rtp_payload_type", offsetof(sb_server_options, rtp_payload_type), 96, 127},
        {"rtp_mtu", offsetof(sb_server_options, rtp_mtu), 256, 1472},
        {"rtp_keyframe_interval_ms", offsetof(sb_server_options, rtp_keyframe_interval_ms), 0,
         600000},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int values[] = {ints[i].lo, ints[i].hi, ints[i].lo - 1, ints[i].hi + 1};
        for (int k = 0; k < 4; k++) {
            sb_server_options o = SB_SERVER_OPTIONS_INIT;
            o.port = 0;
            o.num_threads = 4; /* not max_clients + 8 = 1032 */
            memcpy((char *)&o + ints[i].off, &values[k], sizeof(int));
            sb_server *srv = NULL;
            int rc = sb_server_create(ring, NULL, &o, &srv);
            CU_ASSERT_EQUAL(rc, k < 2 ? SB_OK : SB_EINVAL);
            if (rc != SB_OK)
                CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), ints[i].name));
            sb_server_destroy(srv);
        }
    }
    sb_frame_ring_destroy(ring);
}

static void test_stats_version_0_and_unknown_are_refused(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    sb_server_stats s = SB_SERVER_STATS_INIT;
    s.version = 0;
    CU_ASSERT_EQUAL(sb_server_get_stats(f.srv, &s), SB_EVERSION);
    s.version = SB_SERVER_STATS_VERSION + 1;
    CU_ASSERT_EQUAL(sb_server_get_stats(f.srv, &s), SB_EVERSION);
    CU_ASSERT_EQUAL(sb_server_get_stats(f.srv, NULL), SB_EINVAL);
    CU_ASSERT_EQUAL(sb_server_get_stats(NULL, &s), SB_EINVAL);
    st_server_stop(&f);
}

/* A version 1 caller's struct, allocated exactly its size: get_stats writes none past it (ASan
 * reports a heap overflow if it did) and keeps the caller's version. */
static void test_v1_sized_stats_are_not_written_past_their_end(void)
{
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    unsigned char *block = malloc(STATS_V1_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(block);
    unsigned int version = 1;
    memcpy(block, &version, sizeof version);
    CU_ASSERT_EQUAL(sb_server_get_stats(f.srv, (sb_server_stats *)block), SB_OK);
    memcpy(&version, block, sizeof version);
    CU_ASSERT_EQUAL(version, 1);
    free(block);
    st_server_stop(&f);
}

static bool fps_positive(st_server *f)
{
    return st_server_stats(f->srv).delivered_fps > 0.0;
}

/* The counters and delivered_fps of two reads, equal field by field. */
static bool same_stats(const sb_server_stats *a, const sb_server_stats *b)
{
#define SAME_COUNTER(name, text) \
    if (a->name != b->name)      \
        return false;
    SB_SERVER_COUNTER_MAP(SAME_COUNTER)
#undef SAME_COUNTER
    return a->clients == b->clients && a->delivered_fps == b->delivered_fps &&
           a->encode_ms_mean == b->encode_ms_mean && a->encode_ms_p50 == b->encode_ms_p50 &&
           a->encode_ms_p99 == b->encode_ms_p99;
}

/* Publishes a frame and waits until the viewer has it and the sent-frames window counts it. */
static void send_one_frame(st_server *f, st_ws *ws, int *frames)
{
    st_publish_one(f->ring, W, H);
    (*frames)++;
    CU_ASSERT_EQUAL_FATAL(st_ws_wait_frames(ws, *frames, ST_DEADLINE_MS), *frames);
    bool counted;
    ST_WAIT_UNTIL(counted, fps_positive(f), ST_DEADLINE_MS);
    CU_ASSERT_FATAL(counted);
}

#define NS_PER_S 1000000000ull

/* The server counts its seconds from a moment in [created_after_ns - ..., created_after_ns]:
 * whether [t0, t1] may contain one of its second boundaries. */
typedef struct server_clock {
    uint64_t before_ns, after_ns; /* around sb_server_create */
} server_clock;

static bool may_cross_a_second(const server_clock *sc, uint64_t t0, uint64_t t1)
{
    /* The first boundary interval [before + k s, after + k s] that ends at or after t0. */
    uint64_t k = t0 > sc->after_ns ? (t0 - sc->after_ns + NS_PER_S - 1) / NS_PER_S : 0;
    return sc->before_ns + k * NS_PER_S <= t1;
}

/* Reading the stats changes nothing: two reads with /stats GETs between them, on a server that
 * has sent a frame and is now idle, agree field by field, delivered_fps included (while the
 * window still holds the frame). The reads are more than half a second apart: the 0.1 code
 * recomputed delivered_fps at a read that came 0.5 s or more after the previous one, so the
 * second /stats GET changed what the next read saw. The window moves on whole seconds of the
 * server's clock, so a pair that may straddle one of its boundaries is not compared. */
static void test_stats_reads_have_no_side_effects(void)
{
    server_clock sc;
    st_server f;
    sb_server_options o = SB_SERVER_OPTIONS_INIT;
    sc.before_ns = sb__monotonic_ns();
    CU_ASSERT_EQUAL_FATAL(st_server_start(&f, &o, W, H), 0);
    sc.after_ns = sb__monotonic_ns();
    st_ws ws;
    CU_ASSERT_EQUAL_FATAL(st_ws_connect(&ws, f.port, "/ws", NULL, true), 0);
    int frames = 0;
    send_one_frame(&f, &ws, &frames);

    int compared = 0;
    uint64_t deadline = sb__monotonic_ns() + (uint64_t)ST_DEADLINE_MS * 1000000ull;
    while (compared < 2 && sb__monotonic_ns() < deadline) {
        uint64_t t0 = sb__monotonic_ns();
        sb_server_stats a = st_server_stats(f.srv);
        CU_ASSERT_EQUAL(st_http_status(f.port, "/stats", NULL), 200);
        bool apart;
        ST_WAIT_UNTIL(apart, sb__monotonic_ns() - t0 > 600000000ull, ST_DEADLINE_MS);
        CU_ASSERT_EQUAL(st_http_status(f.port, "/stats", NULL), 200);
        sb_server_stats b = st_server_stats(f.srv);
        uint64_t t1 = sb__monotonic_ns();
        if (a.delivered_fps == 0.0) {
            send_one_frame(&f, &ws, &frames); /* the window has left the frame behind */
            continue;
        }
        if (may_cross_a_second(&sc, t0, t1))
            continue;
        CU_ASSERT(same_stats(&a, &b));
        compared++;
    }
    CU_ASSERT_EQUAL(compared, 2);
    st_ws_close(&ws);
    st_server_stop(&f);
}

static CU_TestInfo api_tests[] = {
    {"options_init_macro_equals_init_function", test_options_init_macro_equals_init_function},
    {"options_init_of_each_version_gives_its_defaults",
     test_options_init_of_each_version_gives_its_defaults},
    {"v1_sized_options_are_accepted_with_defaults_for_the_rest",
     test_v1_sized_options_are_accepted_with_defaults_for_the_rest},
    {"v2_sized_options_are_accepted_with_defaults_for_the_rest",
     test_v2_sized_options_are_accepted_with_defaults_for_the_rest},
    {"codec_options_are_checked", test_codec_options_are_checked},
    {"options_version_0_and_4_are_refused", test_options_version_0_and_4_are_refused},
    {"option_ranges_accept_edges_and_refuse_beyond",
     test_option_ranges_accept_edges_and_refuse_beyond},
    {"stats_version_0_and_unknown_are_refused", test_stats_version_0_and_unknown_are_refused},
    {"v1_sized_stats_are_not_written_past_their_end",
     test_v1_sized_stats_are_not_written_past_their_end},
    {"stats_reads_have_no_side_effects", test_stats_reads_have_no_side_effects},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"server_api", st_suite_init, NULL, NULL, NULL, api_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
