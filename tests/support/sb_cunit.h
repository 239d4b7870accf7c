/* sb_cunit.h - the one main() every CUnit test binary uses.
 *
 * CUnit's basic runner does not fail the process on failed assertions, so this main returns the
 * number of failures (capped at 255) and ctest sees them. Usage in a test file:
 *
 *     static CU_TestInfo ring_tests[] = { {"publish_then_acquire", test_publish_then_acquire},
 *                                         CU_TEST_INFO_NULL };
 *     static CU_SuiteInfo suites[] = { {"frame_ring", NULL, NULL, NULL, NULL, ring_tests},
 *                                      CU_SUITE_INFO_NULL };
 *     SB_CUNIT_MAIN(suites)
 *
 * Argument: an optional test name runs just that test ("./test_frame_ring publish_then_acquire"). */
#ifndef SB_CUNIT_H
#define SB_CUNIT_H

#include <CUnit/CUnit.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Registers suites, runs them (or only the test named argv[1]) and returns the number of
 * failures, capped at 255 (255 also when CUnit itself fails). */
int sb_cunit_run(CU_SuiteInfo *suites, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#define SB_CUNIT_MAIN(suites)                       \
    int main(int argc, char **argv)                 \
    {                                               \
        return sb_cunit_run((suites), argc, argv);  \
    }

#endif /* SB_CUNIT_H */
