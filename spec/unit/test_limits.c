/* test_limits.c - limit names, defaults and size parsing. */
#include <check.h>

#include "check_main.h"
#include <stdint.h>

#include "tx_limits.h"

START_TEST(sizes)
{
    uint64_t v = 0;
    ck_assert_int_eq(tx_parse_size("256m", &v), 0);
    ck_assert_uint_eq(v, 256ull << 20);
    ck_assert_int_eq(tx_parse_size("64K", &v), 0);
    ck_assert_uint_eq(v, 64ull << 10);
    ck_assert_int_eq(tx_parse_size("1g", &v), 0);
    ck_assert_uint_eq(v, 1ull << 30);
    ck_assert_int_eq(tx_parse_size("1024", &v), 0);
    ck_assert_uint_eq(v, 1024);
    ck_assert_int_eq(tx_parse_size("8mb", &v), 0);
    ck_assert_uint_eq(v, 8ull << 20);
    ck_assert_int_eq(tx_parse_size("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    static const char *const bad[] = {
        "", "m", "-1", "12x", "1.5m", " 1", "1m ", "99999999999999999999", "17179869184g", NULL};
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(tx_parse_size(bad[i], &v) == -1, "'%s' should not parse", bad[i]);
    ck_assert_int_eq(tx_parse_size(NULL, &v), -1);
}
END_TEST

START_TEST(names_round_trip)
{
    for (int id = 0; id < TX_LIMIT__COUNT; id++)
        ck_assert_int_eq(tx_limit_by_name(tx_limit_name((tx_limit_id)id)), id);
    ck_assert_int_eq(tx_limit_by_name("bogus"), -1);
    ck_assert_str_eq(tx_limit_name((tx_limit_id)99), "unknown");
    ck_assert(tx_limit_is_size(TX_LIMIT_MEMORY));
    ck_assert(!tx_limit_is_size(TX_LIMIT_PIDS));
}
END_TEST

START_TEST(defaults)
{
    tx_limits l;
    tx_limits_default(&l);
    ck_assert_uint_eq(l.allowed[TX_LIMIT_INSTRUCTIONS], 0);
    ck_assert_uint_eq(l.allowed[TX_LIMIT_MEMORY], 256ull << 20);
    ck_assert_uint_eq(l.allowed[TX_LIMIT_TIMEOUT], 600000);
    ck_assert_uint_gt(l.allowed[TX_LIMIT_DEPTH], 0);
}
END_TEST

static Suite *limits_suite(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("limits");
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, names_round_trip);
    tcase_add_test(tc, defaults);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(limits_suite)
