/*
 * check_run.h - the main() of every unit test: run one Check suite (each
 * test forked, Check's default) and turn its failures into the exit status.
 */
#ifndef ARGUS_CHECK_RUN_H
#define ARGUS_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int check_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
