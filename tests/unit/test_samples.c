/* test_samples.c - the latency sample window (base/sb_samples.h) behind /stats "latency_ms" and
 * sb_stream_stats' percentiles: nearest-rank percentiles, only the newest SB_SAMPLES_MAX values. */
#include "sb_samples.h"

#include "sb_cunit.h"

static void test_empty_window_summarises_to_zero(void)
{
    sb_samples s = {0};
    sb_sample_summary q;
    sb__samples_summary(&s, &q);
    CU_ASSERT_EQUAL(q.n, 0);
    CU_ASSERT_EQUAL(q.p50, 0.0);
    CU_ASSERT_EQUAL(q.max, 0.0);
}

static void test_percentiles_are_nearest_rank(void)
{
    sb_samples s = {0};
    for (int i = 100; i >= 1; i--) /* any order */
        sb__samples_add(&s, (double)i);
    sb_sample_summary q;
    sb__samples_summary(&s, &q);
    CU_ASSERT_EQUAL(q.n, 100);
    CU_ASSERT_EQUAL(q.p50, 50.0);
    CU_ASSERT_EQUAL(q.p90, 90.0);
    CU_ASSERT_EQUAL(q.p99, 99.0);
    CU_ASSERT_EQUAL(q.max, 100.0);
    sb_samples one = {0};
    sb__samples_add(&one, 7.5);
    sb__samples_summary(&one, &q);
    CU_ASSERT_EQUAL(q.n, 1);
    CU_ASSERT_EQUAL(q.p50, 7.5);
    CU_ASSERT_EQUAL(q.p99, 7.5);
}

static void test_window_keeps_only_the_newest_values(void)
{
    sb_samples s = {0};
    for (int i = 0; i < SB_SAMPLES_MAX; i++)
        sb__samples_add(&s, 1000.0); /* old and slow */
    for (int i = 0; i < SB_SAMPLES_MAX; i++)
        sb__samples_add(&s, 1.0);
    sb_sample_summary q;
    sb__samples_summary(&s, &q);
    CU_ASSERT_EQUAL(q.n, SB_SAMPLES_MAX);
    CU_ASSERT_EQUAL(s.count, 2 * SB_SAMPLES_MAX);
    CU_ASSERT_EQUAL(q.max, 1.0);
}

static CU_TestInfo sample_tests[] = {
    {"empty_window_summarises_to_zero", test_empty_window_summarises_to_zero},
    {"percentiles_are_nearest_rank", test_percentiles_are_nearest_rank},
    {"window_keeps_only_the_newest_values", test_window_keeps_only_the_newest_values},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {"samples", NULL, NULL, NULL, NULL, sample_tests},
    CU_SUITE_INFO_NULL,
};

SB_CUNIT_MAIN(suites)
