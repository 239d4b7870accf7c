/* sb_cunit.c - the runner behind SB_CUNIT_MAIN (sb_cunit.h). */
#include "sb_cunit.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

int sb_cunit_run(CU_SuiteInfo *suites, int argc, char **argv)
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
