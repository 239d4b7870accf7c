/* test_capi_basics.c - the C ABI's shared pieces: error table, thread-local last error, version,
 * event validation. */
#include "sb_cunit.h"

#include <streambridge/streambridge.h>

#include <math.h>
#include <pthread.h>
#include <string.h>

static void test_every_code_has_distinct_name_and_text(void)
{
    static const int codes[] = {
#define X(name, value, text) SB_##name,
        SB_ERRNO_MAP(X)
#undef X
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT(strncmp(sb_err_name(codes[i]), "SB_", 3) == 0);
        CU_ASSERT(strcmp(sb_strerror(codes[i]), "unknown error") != 0);
        for (size_t j = i + 1; j < n; j++) {
            CU_ASSERT(codes[i] != codes[j]);
            CU_ASSERT(strcmp(sb_err_name(codes[i]), sb_err_name(codes[j])) != 0);
        }
    }
    CU_ASSERT_STRING_EQUAL(sb_err_name(SB_EINVAL), "SB_EINVAL");
    CU_ASSERT_STRING_EQUAL(sb_err_name(SB_OK), "SB_OK");
    CU_ASSERT_STRING_EQUAL(sb_strerror(12345), "unknown error");
    CU_ASSERT_STRING_EQUAL(sb_err_name(-999), "SB_E?");
}

static void test_error_codes_are_zero_or_negative(void)
{
#define X(name, value, text) CU_ASSERT((value) <= 0);
    SB_ERRNO_MAP(X)
#undef X
}

static void test_last_error_names_the_function(void)
{
    sb_clear_error();
    CU_ASSERT_STRING_EQUAL(sb_last_error(), "");
    CU_ASSERT_EQUAL(sb_event_validate(NULL), SB_EINVAL);
    CU_ASSERT(strncmp(sb_last_error(), "sb_event_validate(): ", 21) == 0);
    sb_clear_error();
    CU_ASSERT_STRING_EQUAL(sb_last_error(), "");
}

static void *fail_in_thread(void *arg)
{
    (void)arg;
    sb_event e;
    memset(&e, 0, sizeof e);
    e.type = 99;
    sb_event_validate(&e);
    return strstr(sb_last_error(), "unknown event type 99") ? (void *)1 : NULL;
}

static void test_last_error_is_thread_local(void)
{
    sb_clear_error();
    pthread_t t;
    void *ok = NULL;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, fail_in_thread, NULL), 0);
    pthread_join(t, &ok);
    CU_ASSERT_PTR_NOT_NULL(ok);              /* the other thread saw its own error */
    CU_ASSERT_STRING_EQUAL(sb_last_error(), ""); /* and it did not leak into this one */
}

static void test_version_matches_header(void)
{
    CU_ASSERT_EQUAL(sb_version_number(), SB_VERSION_NUMBER);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", SB_VERSION_MAJOR, SB_VERSION_MINOR, SB_VERSION_PATCH);
    CU_ASSERT_STRING_EQUAL(sb_version(), expect);
}

static sb_event ev(uint32_t type)
{
    sb_event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    return e;
}

static void test_event_record_is_80_bytes(void)
{
    /* The record is part of the shm ABI: its size and offsets must not drift. */
    CU_ASSERT_EQUAL(sizeof(sb_event), 80);
    CU_ASSERT_EQUAL(offsetof(sb_event, timestamp_ns), 40);
    CU_ASSERT_EQUAL(offsetof(sb_event, keysym), 48);
}

static void test_validate_accepts_every_well_formed_type(void)
{
    sb_event e = ev(SB_EVENT_POINTER_MOVE);
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
    e = ev(SB_EVENT_BUTTON_PRESS);
    e.button = SB_BUTTON_RIGHT;
    e.modifiers = SB_MOD_CTRL | SB_MOD_SHIFT;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
    e.type = SB_EVENT_BUTTON_RELEASE;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
    e = ev(SB_EVENT_WHEEL);
    e.wheel_delta = -2.0f;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
    e = ev(SB_EVENT_KEY_PRESS);
    strcpy(e.keysym, "Escape");
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
    e.type = SB_EVENT_KEY_RELEASE;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
    e = ev(SB_EVENT_CHAR);
    e.key_code = 0x20AC; /* euro sign */
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
    e = ev(SB_EVENT_RESIZE);
    e.width = 800;
    e.height = 600;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_OK);
}

static void test_validate_rejects_malformed_records(void)
{
    sb_event e = ev(SB_EVENT_NONE);
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e = ev(SB_EVENT_TYPE_COUNT);
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e = ev(SB_EVENT_BUTTON_PRESS); /* no button */
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e.button = 7;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e = ev(SB_EVENT_POINTER_MOVE);
    e.modifiers = 0x100;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e = ev(SB_EVENT_POINTER_MOVE);
    e.x = 1 << 30;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e = ev(SB_EVENT_RESIZE);
    e.width = 0;
    e.height = 10;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e = ev(SB_EVENT_WHEEL);
    e.wheel_delta = NAN;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e.wheel_delta = 0.0f;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    e = ev(SB_EVENT_KEY_PRESS);
    memset(e.keysym, 'a', sizeof e.keysym); /* no terminating NUL */
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(sb_last_error(), "NUL"));
    e = ev(SB_EVENT_CHAR);
    e.key_code = 0x110000;
    CU_ASSERT_EQUAL(sb_event_validate(&e), SB_EINVAL);
}

static void test_event_type_names(void)
{
    CU_ASSERT_STRING_EQUAL(sb_event_type_name(SB_EVENT_POINTER_MOVE), "pointer_move");
    CU_ASSERT_STRING_EQUAL(sb_event_type_name(SB_EVENT_RESIZE), "resize");
    CU_ASSERT_STRING_EQUAL(sb_event_type_name(1000), "invalid");
}

#ifdef SB_TEST_STREAM_API
/* The C macro and the function (for C++17 and FFI) give the same defaults, .server included.
 * The stream API exists only in a library built with VTK (SB_WITH_VTK). */
static void test_stream_options_init_equals_init_macro(void)
{
    const sb_stream_options macro = SB_STREAM_OPTIONS_INIT;
    sb_stream_options o;
    memset(&o, 0xab, sizeof o);
    CU_ASSERT_EQUAL_FATAL(sb_stream_options_init(&o, SB_STREAM_OPTIONS_VERSION), SB_OK);
    CU_ASSERT_EQUAL(o.version, macro.version);
    CU_ASSERT_EQUAL(o.max_width, macro.max_width);
    CU_ASSERT_EQUAL(o.max_height, macro.max_height);
    CU_ASSERT_EQUAL(o.buffer_count, macro.buffer_count);
    CU_ASSERT_PTR_NULL(o.shm_name);
    CU_ASSERT_EQUAL(o.serve, macro.serve);
    CU_ASSERT_EQUAL(o.timer_interval_ms, macro.timer_interval_ms);
    CU_ASSERT_EQUAL(o.allow_remote_exit, macro.allow_remote_exit);
    CU_ASSERT_EQUAL(o.server.version, macro.server.version);
    CU_ASSERT_STRING_EQUAL(o.server.bind_address, macro.server.bind_address);
    CU_ASSERT_EQUAL(o.server.port, macro.server.port);
    CU_ASSERT_EQUAL(o.server.max_fps, macro.server.max_fps);
    CU_ASSERT_EQUAL(o.server.max_clients, macro.server.max_clients);
    CU_ASSERT_EQUAL(o.server.ack_timeout_ms, macro.server.ack_timeout_ms);
    CU_ASSERT_PTR_NULL(o.server.allowed_origins);
    CU_ASSERT_EQUAL(macro.max_width, SB_STREAM_DEFAULT_MAX_WIDTH);
    CU_ASSERT_EQUAL(macro.timer_interval_ms, SB_STREAM_DEFAULT_TIMER_INTERVAL_MS);
}
#endif

static CU_TestInfo tests[] = {
    {"every_code_has_distinct_name_and_text", test_every_code_has_distinct_name_and_text},
    {"error_codes_are_zero_or_negative", test_error_codes_are_zero_or_negative},
    {"last_error_names_the_function", test_last_error_names_the_function},
    {"last_error_is_thread_local", test_last_error_is_thread_local},
    {"version_matches_header", test_version_matches_header},
    {"event_record_is_80_bytes", test_event_record_is_80_bytes},
    {"validate_accepts_every_well_formed_type", test_validate_accepts_every_well_formed_type},
    {"validate_rejects_malformed_records", test_validate_rejects_malformed_records},
    {"event_type_names", test_event_type_names},
#ifdef SB_TEST_STREAM_API
    {"stream_options_init_equals_init_macro", test_stream_options_init_equals_init_macro},
#endif
    CU_TEST_INFO_NULL,
};
static CU_SuiteInfo suites[] = {{"capi_basics", NULL, NULL, NULL, NULL, tests}, CU_SUITE_INFO_NULL};
SB_CUNIT_MAIN(suites)
