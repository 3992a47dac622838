/* test_tokens.c - phase tokens: once, in order, in phase, never the wrong one. */
#include <check.h>

#include "check_main.h"
#include <sodium.h>
#include <string.h>

#include "tokens.h"

static tx_tokens *fresh(char hex[3][TX_TOKEN_BYTES * 2 + 1])
{
    unsigned char raw[3][TX_TOKEN_BYTES];
    tx_tokens *t = tx_tokens_new(raw);
    ck_assert_ptr_nonnull(t);
    for (int k = 0; k < 3; k++)
        tx_token_hex(raw[k], hex[k], TX_TOKEN_BYTES * 2 + 1);
    sodium_memzero(raw, sizeof raw);
    return t;
}

START_TEST(phases_in_order)
{
    char hex[3][TX_TOKEN_BYTES * 2 + 1];
    tx_tokens *t = fresh(hex);
    tx_error err;
    ck_assert_int_eq(tx_tokens_phase(t), TX_PHASE_SETUP);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, hex[0], &err), 0);
    ck_assert_int_eq(tx_tokens_phase(t), TX_PHASE_RUN);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_RUN, hex[1], &err), 0);
    ck_assert_int_eq(tx_tokens_phase(t), TX_PHASE_RUNNING);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_UPLOAD, hex[2], &err), 0);
    ck_assert_int_eq(tx_tokens_phase(t), TX_PHASE_DONE);
    ck_assert_int_eq(tx_tokens_refused(t), 0);
    tx_tokens_free(t);
}
END_TEST

START_TEST(reuse_refused)
{
    char hex[3][TX_TOKEN_BYTES * 2 + 1];
    tx_tokens *t = fresh(hex);
    tx_error err;
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, hex[0], &err), 0);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, hex[0], &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "already used"));
    ck_assert_int_eq(tx_tokens_phase(t), TX_PHASE_RUN);
    ck_assert_int_eq(tx_tokens_refused(t), 1);
    tx_tokens_free(t);
}
END_TEST

START_TEST(out_of_phase_refused)
{
    char hex[3][TX_TOKEN_BYTES * 2 + 1];
    tx_tokens *t = fresh(hex);
    tx_error err;
    /* Upload before setup: the right token, the wrong time. */
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_UPLOAD, hex[2], &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "out of phase"));
    ck_assert_int_eq(tx_tokens_phase(t), TX_PHASE_SETUP);
    /* and it stays unusable for later only if used: it was not consumed */
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, hex[0], &err), 0);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_RUN, hex[1], &err), 0);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_UPLOAD, hex[2], &err), 0);
    tx_tokens_free(t);
}
END_TEST

START_TEST(wrong_and_malformed_refused)
{
    char hex[3][TX_TOKEN_BYTES * 2 + 1];
    tx_tokens *t = fresh(hex);
    tx_error err;
    /* Another kind's token, a flipped digit, short, non-hex, NULL. */
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, hex[1], &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "wrong setup token"));
    char flipped[TX_TOKEN_BYTES * 2 + 1];
    memcpy(flipped, hex[0], sizeof flipped);
    flipped[10] = flipped[10] == '0' ? '1' : '0';
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, flipped, &err), -1);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, "abcd", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "malformed"));
    char junk[TX_TOKEN_BYTES * 2 + 1];
    memset(junk, 'z', sizeof junk - 1);
    junk[sizeof junk - 1] = '\0';
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, junk, &err), -1);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, NULL, &err), -1);
    /* The message never contains the token. */
    ck_assert_ptr_null(strstr(err.message, hex[0]));
    ck_assert_int_eq(tx_tokens_refused(t), 5);
    ck_assert_int_eq(tx_tokens_phase(t), TX_PHASE_SETUP);
    ck_assert_int_eq(tx_tokens_redeem(t, TX_TOKEN_SETUP, hex[0], &err), 0);
    tx_tokens_free(t);
}
END_TEST

START_TEST(tokens_differ_per_run)
{
    char a[3][TX_TOKEN_BYTES * 2 + 1], b[3][TX_TOKEN_BYTES * 2 + 1];
    tx_tokens *t1 = fresh(a), *t2 = fresh(b);
    tx_error err;
    ck_assert_str_ne(a[0], b[0]);
    ck_assert_str_ne(a[0], a[1]);
    ck_assert_int_eq(tx_tokens_redeem(t2, TX_TOKEN_SETUP, a[0], &err), -1);
    tx_tokens_free(t1);
    tx_tokens_free(t2);
}
END_TEST

static Suite *tokens_suite(void)
{
    Suite *s = suite_create("tokens");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, phases_in_order);
    tcase_add_test(tc, reuse_refused);
    tcase_add_test(tc, out_of_phase_refused);
    tcase_add_test(tc, wrong_and_malformed_refused);
    tcase_add_test(tc, tokens_differ_per_run);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(tokens_suite)
