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

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

static inline int sb_cunit_run(CU_SuiteInfo *suites, int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 255;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 255;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    if (argc > 1) {
        int found = 0;
        for (CU_SuiteInfo *s = suites; s->pName; s++) {
            CU_pSuite suite = CU_get_suite(s->pName);
            CU_pTest t = suite ? CU_get_test(suite, argv[1]) : NULL;
            if (t) {
                CU_basic_run_test(suite, t);
                found = 1;
                break;
            }
        }
        if (!found) {
            fprintf(stderr, "no test named %s\n", argv[1]);
            CU_cleanup_registry();
            return 255;
        }
    } else {
        CU_basic_run_tests();
    }
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
                        CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures > 255 ? 255 : (int)failures;
}

#define SB_CUNIT_MAIN(suites)                       \
    int main(int argc, char **argv)                 \
    {                                               \
        return sb_cunit_run((suites), argc, argv);  \
    }

#endif /* SB_CUNIT_H */
