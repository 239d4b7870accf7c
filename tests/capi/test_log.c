/* test_log.c - the log sink (streambridge/log.h): the application's callback gets the library's
 * messages with their level and its user_data, NULL gives the stderr line back, and a callback
 * swapped while library threads log is never called with another callback's user_data. */
#define _GNU_SOURCE
#include "sb_cunit.h"

#include <streambridge/streambridge.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What a callback received. */
typedef struct captured {
    int calls;
    int level;
    char message[512];
} captured;

static void capture(int level, const char *message, void *user_data)
{
    captured *c = user_data;
    c->calls++;
    c->level = level;
    snprintf(c->message, sizeof c->message, "%s", message);
}

static void test_sb_log_reaches_the_callback(void)
{
    captured got = {0};
    sb_set_log_callback(capture, &got);
    sb_log(SB_LOG_INFO, "hello %d from %s", 42, "the plugin");
    sb_set_log_callback(NULL, NULL);
    CU_ASSERT_EQUAL(got.calls, 1);
    CU_ASSERT_EQUAL(got.level, SB_LOG_INFO);
    CU_ASSERT_STRING_EQUAL(got.message, "hello 42 from the plugin");
}

/* A library path that logs: creating a ring over the segment a dead process left behind. */
static void test_library_message_reaches_the_callback(void)
{
    char name[64];
    snprintf(name, sizeof name, "logtest-%d", (int)getpid());
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
        o.max_width = o.max_height = 4;
        o.shm_name = name;
        sb_frame_ring *r = NULL;
        _exit(sb_frame_ring_create(&o, &r) == SB_OK ? 0 : 1); /* no cleanup: left behind */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT_FATAL(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    captured got = {0};
    sb_set_log_callback(capture, &got);
    sb_frame_ring_options o = SB_FRAME_RING_OPTIONS_INIT;
    o.max_width = o.max_height = 4;
    o.shm_name = name;
    sb_frame_ring *r = NULL;
    CU_ASSERT_EQUAL(sb_frame_ring_create(&o, &r), SB_OK);
    sb_set_log_callback(NULL, NULL);
    sb_frame_ring_destroy(r);
    CU_ASSERT_EQUAL(got.calls, 1);
    CU_ASSERT_EQUAL(got.level, SB_LOG_WARNING);
    CU_ASSERT_PTR_NOT_NULL(strstr(got.message, "reclaiming"));
    CU_ASSERT_PTR_NOT_NULL(strstr(got.message, name));
    CU_ASSERT(strncmp(got.message, "streambridge: ", 14) != 0); /* the prefix is the sink's */
}

/* Runs sb_log with stderr sent to a file; returns what was written there. */
static void stderr_of_sb_log(const char *text, char *out, size_t size)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    sb_log(SB_LOG_ERROR, "%s", text);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, size - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
}

static void test_null_restores_the_stderr_line(void)
{
    captured got = {0};
    sb_set_log_callback(capture, &got);
    char text[256];
    stderr_of_sb_log("to the callback", text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "");
    CU_ASSERT_EQUAL(got.calls, 1);
    sb_set_log_callback(NULL, &got); /* user_data without a callback means nothing */
    stderr_of_sb_log("to stderr", text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "streambridge: to stderr\n");
    CU_ASSERT_EQUAL(got.calls, 1);
}

/* Two callbacks, each with the user_data that belongs to it: a call with the other's is a torn
 * pair. */
typedef struct sink {
    const char *tag;
    atomic_ulong calls;
    atomic_ulong torn;
} sink;

static sink sink_a = {"a", 0, 0};
static sink sink_b = {"b", 0, 0};

static void callback_a(int level, const char *message, void *user_data)
{
    (void)level, (void)message;
    if (user_data != &sink_a)
        atomic_fetch_add(&sink_a.torn, 1);
    atomic_fetch_add(&sink_a.calls, 1);
}

static void callback_b(int level, const char *message, void *user_data)
{
    (void)level, (void)message;
    if (user_data != &sink_b)
        atomic_fetch_add(&sink_b.torn, 1);
    atomic_fetch_add(&sink_b.calls, 1);
}

static atomic_int stop_logging;

static void *log_until_stopped(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_logging))
        sb_log(SB_LOG_DEBUG, "x");
    return NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_swap_while_threads_log_never_tears_the_pair(void)
{
    enum { THREADS = 3 };
    sb_set_log_callback(callback_a, &sink_a);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, log_until_stopped, NULL), 0);
    /* Swap until both callbacks were called a fair number of times while others logged (or a
     * deadline no machine reaches: then the test only proves less, it does not fail). */
    const uint64_t deadline = now_ms() + 60000;
    for (unsigned long swaps = 0;
         (atomic_load(&sink_a.calls) < 10000 || atomic_load(&sink_b.calls) < 10000 ||
          swaps < 5000000) &&
         now_ms() < deadline;
         swaps++) {
        if (swaps % 2)
            sb_set_log_callback(callback_a, &sink_a);
        else
            sb_set_log_callback(callback_b, &sink_b);
    }
    atomic_store(&stop_logging, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    sb_set_log_callback(NULL, NULL);
    printf("\n    calls a %lu b %lu  ", (unsigned long)atomic_load(&sink_a.calls),
           (unsigned long)atomic_load(&sink_b.calls));
    CU_ASSERT(atomic_load(&sink_a.calls) > 0);
    CU_ASSERT(atomic_load(&sink_b.calls) > 0);
    CU_ASSERT_EQUAL(atomic_load(&sink_a.torn), 0);
    CU_ASSERT_EQUAL(atomic_load(&sink_b.torn), 0);
}

static CU_TestInfo log_tests[] = {
    {"sb_log_reaches_the_callback", test_sb_log_reaches_the_callback},
    {"library_message_reaches_the_callback", test_library_message_reaches_the_callback},
    {"null_restores_the_stderr_line", test_null_restores_the_stderr_line},
    {"swap_while_threads_log_never_tears_the_pair",
     test_swap_while_threads_log_never_tears_the_pair},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"log", NULL, NULL, NULL, NULL, log_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
