/* test_redact.c - unit tests for broker/redact.c (secret masking in text and JSON). */
#include <check.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redact.h"

/* Redacts a NUL-terminated text and returns the malloc'd result (checked non-NULL). */
static char *red(const tx_redactor *r, const char *text)
{
    size_t n = 12345;
    char *out = tx_redact(r, text, strlen(text), &n);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(n, strlen(out));
    return out;
}

#define ck_redacts(r, in, want)                                                                    \
    do {                                                                                           \
        char *got_ = red((r), (in));                                                               \
        ck_assert_str_eq(got_, (want));                                                            \
        free(got_);                                                                                \
    } while (0)

static tx_redactor *with(const char *name, const char *value)
{
    tx_redactor *r = tx_redactor_new();
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(tx_redactor_add(r, name, (const unsigned char *)value, strlen(value)), 0);
    return r;
}

START_TEST(test_raw_value)
{
    tx_redactor *r = with("TOKEN", "hunter2secret");
    ck_redacts(r, "password is hunter2secret, ok", "password is [REDACTED:TOKEN], ok");
    ck_redacts(r, "hunter2secret", "[REDACTED:TOKEN]");
    ck_redacts(r, "hunter2secretxhunter2secret", "[REDACTED:TOKEN]x[REDACTED:TOKEN]");
    ck_redacts(r, "hunter2secrethunter2secret", "[REDACTED:TOKEN][REDACTED:TOKEN]");
    ck_redacts(r, "hunter2secre", "hunter2secre");   /* a prefix is not the secret */
    ck_redacts(r, "HUNTER2SECRET", "HUNTER2SECRET"); /* case matters for the raw form */
    ck_assert_uint_eq(tx_redactor_count(r), 1);
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_start_and_end)
{
    tx_redactor *r = with("K", "abcdef");
    ck_redacts(r, "abcdef tail", "[REDACTED:K] tail");
    ck_redacts(r, "head abcdef", "head [REDACTED:K]");
    ck_redacts(r, "abcdeabcdef", "abcde[REDACTED:K]"); /* restart after a partial match */
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_unchanged_without_secrets)
{
    tx_redactor *r = with("K", "s3cr3t-value");
    const char *text = "nothing to see here: s3cr3t-valu3 and s3cr3t_value";
    ck_redacts(r, text, text);
    /* Empty text and NULL text with length 0 give an empty string, not NULL. */
    size_t n = 99;
    char *out = tx_redact(r, "", 0, &n);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(n, 0);
    free(out);
    out = tx_redact(r, NULL, 0, NULL);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "");
    free(out);
    tx_redactor_free(r);
    /* An empty redactor, and a NULL one, copy the text. */
    r = tx_redactor_new();
    ck_redacts(r, text, text);
    tx_redactor_free(r);
    out = tx_redact(NULL, text, strlen(text), &n);
    ck_assert_str_eq(out, text);
    free(out);
}
END_TEST

START_TEST(test_encoded_forms)
{
    /* "secret??" -> hex 7365637265743f3f; base64 c2VjcmV0Pz8= ; url-safe c2VjcmV0Pz8= too, so use
     * bytes that differ between alphabets: 0xfb 0xff 0xfe 0x41 0x42 -> +/ vs -_ */
    const unsigned char v[] = {0xfb, 0xff, 0xfe, 'A', 'B'};
    tx_redactor *r = tx_redactor_new();
    ck_assert_int_eq(tx_redactor_add(r, "BIN", v, sizeof v), 0);
    ck_redacts(r, "hex fbfffe4142 end", "hex [REDACTED:BIN] end");
    ck_redacts(r, "HEX FBFFFE4142 end", "HEX [REDACTED:BIN] end");
    ck_redacts(r, "std +//+QUI= end", "std [REDACTED:BIN] end");
    ck_redacts(r, "std-nopad +//+QUI end", "std-nopad [REDACTED:BIN] end");
    ck_redacts(r, "url -__-QUI= end", "url [REDACTED:BIN] end");
    ck_redacts(r, "url-nopad -__-QUI end", "url-nopad [REDACTED:BIN] end");
    /* The raw bytes too. */
    char raw[16] = "<";
    memcpy(raw + 1, v, sizeof v);
    raw[6] = '>';
    raw[7] = '\0';
    ck_redacts(r, raw, "<[REDACTED:BIN]>");
    /* Mixed-case hex is not one of the forms. */
    ck_redacts(r, "FbFfFe4142", "FbFfFe4142");
    tx_redactor_free(r);

    /* A printable value: "my-api-key" -> base64 bXktYXBpLWtleQ== */
    r = with("API", "my-api-key");
    ck_redacts(r, "Authorization: Basic bXktYXBpLWtleQ==", "Authorization: Basic [REDACTED:API]");
    ck_redacts(r, "x=bXktYXBpLWtleQ&y", "x=[REDACTED:API]&y");
    ck_redacts(r, "6d792d6170692d6b6579", "[REDACTED:API]");
    ck_redacts(r, "6D792D6170692D6B6579", "[REDACTED:API]");
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_overlapping_longest_wins)
{
    tx_redactor *r = tx_redactor_new();
    ck_assert_int_eq(tx_redactor_add(r, "SHORT", (const unsigned char *)"abcd", 4), 0);
    ck_assert_int_eq(tx_redactor_add(r, "LONG", (const unsigned char *)"abcdefgh", 8), 0);
    ck_assert_int_eq(tx_redactor_add(r, "MID", (const unsigned char *)"efghij", 6), 0);
    /* At position 0 both SHORT and LONG match: the longer one wins. */
    ck_redacts(r, "abcdefgh", "[REDACTED:LONG]");
    ck_redacts(r, "abcdefg", "[REDACTED:SHORT]efg");
    /* Leftmost match first: LONG consumes "efgh", so MID cannot match inside it. */
    ck_redacts(r, "abcdefghij", "[REDACTED:LONG]ij");
    ck_redacts(r, "xxefghij", "xx[REDACTED:MID]");
    tx_redactor_free(r);

    /* Registration order does not matter. */
    r = tx_redactor_new();
    ck_assert_int_eq(tx_redactor_add(r, "LONG", (const unsigned char *)"abcdefgh", 8), 0);
    ck_assert_int_eq(tx_redactor_add(r, "SHORT", (const unsigned char *)"abcd", 4), 0);
    ck_redacts(r, "abcdefgh abcd", "[REDACTED:LONG] [REDACTED:SHORT]");
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_short_values_ignored)
{
    tx_redactor *r = tx_redactor_new();
    ck_assert_int_eq(tx_redactor_add(r, "ONE", (const unsigned char *)"a", 1), 0);
    ck_assert_int_eq(tx_redactor_add(r, "THREE", (const unsigned char *)"abc", 3), 0);
    ck_assert_int_eq(tx_redactor_add(r, "EMPTY", (const unsigned char *)"", 0), 0);
    ck_assert_uint_eq(tx_redactor_count(r), 0);
    ck_redacts(r, "a abc YWJj 616263", "a abc YWJj 616263");
    /* Exactly the minimum length is registered. */
    ck_assert_int_eq(tx_redactor_add(r, "FOUR", (const unsigned char *)"abcd", 4), 0);
    ck_assert_uint_eq(tx_redactor_count(r), 1);
    ck_redacts(r, "abc abcd", "abc [REDACTED:FOUR]");
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_duplicates_and_bad_args)
{
    tx_redactor *r = with("FIRST", "same-value");
    ck_assert_int_eq(tx_redactor_add(r, "SECOND", (const unsigned char *)"same-value", 10), 0);
    ck_redacts(r, "same-value", "[REDACTED:FIRST]");
    ck_assert_int_eq(tx_redactor_add(NULL, "X", (const unsigned char *)"abcd", 4), -1);
    ck_assert_int_eq(tx_redactor_add(r, NULL, (const unsigned char *)"abcd", 4), -1);
    ck_assert_int_eq(tx_redactor_add(r, "X", NULL, 4), -1);
    tx_redactor_free(r);
    tx_redactor_free(NULL);
}
END_TEST

START_TEST(test_embedded_nul)
{
    const unsigned char v[] = {'a', 0, 'b', 0, 'c'};
    tx_redactor *r = tx_redactor_new();
    ck_assert_int_eq(tx_redactor_add(r, "NUL", v, sizeof v), 0);
    const char text[] = {'x', 'a', 0, 'b', 0, 'c', 'y'};
    size_t n;
    char *out = tx_redact(r, text, sizeof text, &n);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, "x[REDACTED:NUL]y");
    ck_assert_uint_eq(n, strlen("x[REDACTED:NUL]y"));
    free(out);
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_json_nested_and_keys)
{
    tx_redactor *r = with("TOK", "tok-12345");
    json_error_t jerr;
    json_t *v = json_loads("{\"a\":\"x tok-12345 y\",\"list\":[1,\"tok-12345\",{\"deep\":"
                           "[\"dG9rLTEyMzQ1\"]}],\"tok-12345\":true,\"n\":null,\"k\":7,"
                           "\"ok\":\"nothing\"}",
                           0, &jerr);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(tx_redact_json(r, v), 0);
    char *s = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(s, "{\"[REDACTED:TOK]\":true,\"a\":\"x [REDACTED:TOK] y\",\"k\":7,"
                        "\"list\":[1,\"[REDACTED:TOK]\",{\"deep\":[\"[REDACTED:TOK]\"]}],"
                        "\"n\":null,\"ok\":\"nothing\"}");
    ck_assert_ptr_null(strstr(s, "tok-12345"));
    free(s);
    json_decref(v);

    /* A bare string. */
    v = json_string("tok-12345");
    ck_assert_int_eq(tx_redact_json(r, v), 0);
    ck_assert_str_eq(json_string_value(v), "[REDACTED:TOK]");
    json_decref(v);
    ck_assert_int_eq(tx_redact_json(r, NULL), -1);
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_json_key_collision)
{
    tx_redactor *r = with("TOK", "tok-12345");
    json_t *v = json_pack("{s:i,s:i,s:i}", "[REDACTED:TOK]", 1, "tok-12345", 2, "x", 3);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(tx_redact_json(r, v), 0);
    ck_assert_uint_eq(json_object_size(v), 3); /* no member lost */
    ck_assert_int_eq(json_integer_value(json_object_get(v, "[REDACTED:TOK]")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "[REDACTED:TOK]~2")), 2);
    json_decref(v);
    tx_redactor_free(r);
}
END_TEST

START_TEST(test_json_depth_limit)
{
    tx_redactor *r = with("TOK", "tok-12345");
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 3000; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    ck_assert_int_eq(tx_redact_json(r, root), -1);
    json_decref(root);
    tx_redactor_free(r);
}
END_TEST

/* 1 MiB of text with 50 secrets (350 forms) must be quick: no quadratic blow-up. */
START_TEST(test_linear_time)
{
    tx_redactor *r = tx_redactor_new();
    char name[32], val[64];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "S%d", i);
        /* Values sharing a long prefix are the hard case for a naive scan. */
        snprintf(val, sizeof val, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%02d", i);
        ck_assert_int_eq(tx_redactor_add(r, name, (const unsigned char *)val, strlen(val)), 0);
    }
    size_t len = 1 << 20;
    char *text = malloc(len + 1);
    memset(text, 'a', len);
    memcpy(text + len / 2, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa07", 49);
    text[len] = '\0';
    size_t n;
    char *out = tx_redact(r, text, len, &n);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(strstr(out, "[REDACTED:S7]"));
    ck_assert_uint_eq(n, len - 49 + strlen("[REDACTED:S7]"));
    free(out);
    free(text);
    tx_redactor_free(r);
}
END_TEST

static Suite *redact_suite(void)
{
    Suite *s = suite_create("redact");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_raw_value);
    tcase_add_test(tc, test_start_and_end);
    tcase_add_test(tc, test_unchanged_without_secrets);
    tcase_add_test(tc, test_encoded_forms);
    tcase_add_test(tc, test_overlapping_longest_wins);
    tcase_add_test(tc, test_short_values_ignored);
    tcase_add_test(tc, test_duplicates_and_bad_args);
    tcase_add_test(tc, test_embedded_nul);
    tcase_add_test(tc, test_json_nested_and_keys);
    tcase_add_test(tc, test_json_key_collision);
    tcase_add_test(tc, test_json_depth_limit);
    tcase_add_test(tc, test_linear_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(redact_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
