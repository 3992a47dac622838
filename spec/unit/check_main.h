/* check_main.h - the main() every unit test shares: run one suite, exit 0 only if it passed. */
#ifndef TX_CHECK_MAIN_H
#define TX_CHECK_MAIN_H

#include <check.h>

/* Defines main() running the suite that make_suite() returns. */
#define TX_CHECK_MAIN(make_suite)                                                                  \
    int main(void)                                                                                 \
    {                                                                                              \
        SRunner *sr = srunner_create(make_suite());                                                \
        srunner_run_all(sr, CK_NORMAL);                                                            \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed == 0 ? 0 : 1;                                                                \
    }

#endif
