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

/* Secrets written inside JSON text: every character may be escaped, in any mix. */
START_TEST(test_json_escaped_text)
{
    /* tok/"\é-1234: a slash, a quote, a backslash and a two-byte character. */
    tx_redactor *r = with("TOK", "tok/\"\\\xc3\xa9-1234");
    ck_redacts(r, "raw tok/\"\\\xc3\xa9-1234 end", "raw [REDACTED:TOK] end");
    ck_redacts(r, "{\"t\":\"tok\\/\\\"\\\\\\u00e9-1234\"}", "{\"t\":\"[REDACTED:TOK]\"}");
    ck_redacts(r, "{\"t\":\"tok/\\\"\\\\\\u00E9-1234\"}", "{\"t\":\"[REDACTED:TOK]\"}");
    ck_redacts(r, "\\u0074\\u006f\\u006B\\/\\\"\\\\\xc3\xa9\\u002d1234", "[REDACTED:TOK]");
    /* A prefix is still not the secret, escaped or not. */
    ck_redacts(r, "tok\\/\\\"\\\\\\u00e9-123", "tok\\/\\\"\\\\\\u00e9-123");
    /* A malformed escape is its own bytes. */
    ck_redacts(r, "tok\\/\\\"\\\\\\u00g9-1234", "tok\\/\\\"\\\\\\u00g9-1234");
    tx_redactor_free(r);

    /* A character outside the BMP, written as a surrogate pair. */
    r = with("EMOJI", "key\xf0\x9f\x98\x80-5678");
    ck_redacts(r, "\"key\\ud83d\\ude00-5678\"", "\"[REDACTED:EMOJI]\"");
    ck_redacts(r, "\"key\\ud83d-5678\"", "\"key\\ud83d-5678\""); /* a lone surrogate */
    tx_redactor_free(r);

    /* Control characters and the base64 form's '/' written as \/. */
    r = with("CTL", "line1\nline2\ttab");
    ck_redacts(r, "\"line1\\nline2\\ttab\"", "\"[REDACTED:CTL]\"");
    tx_redactor_free(r);
    const unsigned char v[] = {0xfb, 0xff, 0xfe, 'A', 'B'}; /* base64 +//+QUI= */
    r = tx_redactor_new();
    ck_assert_int_eq(tx_redactor_add(r, "BIN", v, sizeof v), 0);
    ck_redacts(r, "\"+\\/\\/+QUI=\"", "\"[REDACTED:BIN]\"");
    tx_redactor_free(r);
}
END_TEST

/* Numbers in parsed JSON: integers, reals, inside containers and at the root. */
START_TEST(test_json_numbers)
{
    tx_redactor *r = with("NUM", "123456789");
    json_error_t jerr;
    json_t *v = json_loads("{\"a\":123456789,\"b\":[1,123456789],\"c\":123456789.5,"
                           "\"d\":-1234567890,\"e\":1.23456789e8,\"k\":7,\"x\":12345678}",
                           0, &jerr);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(tx_redact_json(r, v), 0);
    char *s = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_str_eq(s, "{\"a\":\"[REDACTED:NUM]\",\"b\":[1,\"[REDACTED:NUM]\"],"
                        "\"c\":\"[REDACTED:NUM].5\",\"d\":\"-[REDACTED:NUM]0\","
                        "\"e\":\"[REDACTED:NUM]\",\"k\":7,\"x\":12345678}");
    free(s);
    json_decref(v);

    /* A bare number: replaced through the reference, refused in place. */
    v = json_integer(123456789);
    ck_assert_int_eq(tx_redact_json(r, v), -1);
    size_t hits = 0;
    ck_assert_int_eq(tx_redact_json_ref(r, &v, &hits), 0);
    ck_assert_str_eq(json_string_value(v), "[REDACTED:NUM]");
    ck_assert_uint_eq(hits, 1);
    json_decref(v);
    v = json_integer(42);
    ck_assert_int_eq(tx_redact_json_ref(r, &v, &hits), 0);
    ck_assert(json_is_integer(v));
    ck_assert_uint_eq(hits, 0);
    json_decref(v);
    tx_redactor_free(r);
}
END_TEST

/* Feeds text in chunks of every size: the stream's output is the whole text's redaction. */
static void check_stream(const tx_redactor *r, const char *text, size_t len)
{
    size_t want_len;
    char *want = tx_redact(r, text, len, &want_len);
    ck_assert_ptr_nonnull(want);
    for (size_t chunk = 1; chunk <= len; chunk++) {
        tx_redact_stream *st = tx_redact_stream_new(r);
        ck_assert_ptr_nonnull(st);
        char *got = malloc(want_len + 1);
        size_t got_len = 0;
        for (size_t off = 0; off <= len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk, out_len;
            char *out = off < len ? tx_redact_stream_feed(st, text + off, n, &out_len)
                                  : tx_redact_stream_end(st, &out_len);
            ck_assert_ptr_nonnull(out);
            ck_assert_uint_le(got_len + out_len, want_len);
            memcpy(got + got_len, out, out_len);
            got_len += out_len;
            free(out);
            if (off + n == len && off < len) {
                out = tx_redact_stream_end(st, &out_len);
                ck_assert_ptr_nonnull(out);
                ck_assert_uint_le(got_len + out_len, want_len);
                memcpy(got + got_len, out, out_len);
                got_len += out_len;
                free(out);
                break;
            }
        }
        ck_assert_uint_eq(got_len, want_len);
        ck_assert_mem_eq(got, want, want_len);
        free(got);
        tx_redact_stream_free(st);
    }
    free(want);
}

START_TEST(test_stream_split_chunks)
{
    tx_redactor *r = with("TOK", "hunter2secret");
    ck_assert_uint_eq(tx_redactor_max_span(r), 6 * 26); /* the hex form, every byte escaped */
    const char *text = "a hunter2secret b 68756e74657232736563726574 c \\u0068unter2secre\\u0074 "
                       "d hunter2secrethunter2secret e hunter2secre f";
    check_stream(r, text, strlen(text));
    char *whole = red(r, text);
    ck_assert_ptr_null(strstr(whole, "hunter2secret"));
    ck_assert_ptr_nonnull(strstr(whole, "hunter2secre f")); /* a prefix stays */
    free(whole);
    /* Nothing held back a stream without secrets. */
    tx_redactor *none = tx_redactor_new();
    tx_redact_stream *st = tx_redact_stream_new(none);
    size_t n;
    char *out = tx_redact_stream_feed(st, "abc", 3, &n);
    ck_assert_str_eq(out, "abc");
    free(out);
    tx_redact_stream_free(st);
    tx_redactor_free(none);
    tx_redactor_free(r);
}
END_TEST

/* A window cut out of a longer text: a secret cut at its start leaves nothing behind. */
START_TEST(test_tail_window)
{
    tx_redactor *r = with("TOK", "hunter2secret");
    size_t ctx = tx_redactor_max_span(r) - 1, n, hits;
    char text[1024];
    /* The window starts 3 bytes into a copy: "ter2secret" is a remainder that a plain
     * redaction of the window would leave. */
    size_t len = (size_t)snprintf(text, sizeof text, "ter2secret%*s tail hunter2secret end",
                                  (int)(ctx - 10), "");
    char *plain = tx_redact(r, text, len, &n);
    ck_assert_ptr_nonnull(strstr(plain, "ter2secret"));
    free(plain);
    char *out = tx_redact_tail(r, text, len, ctx, &n, &hits);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_null(strstr(out, "ter2secret"));
    ck_assert_str_eq(out, " tail [REDACTED:TOK] end");
    ck_assert_uint_eq(hits, 1);
    free(out);
    /* A match straddling the context's end is emitted as its marker. */
    len = (size_t)snprintf(text, sizeof text, "%*shunter2secret!", (int)(ctx - 3), "");
    out = tx_redact_tail(r, text, len, ctx, &n, NULL);
    ck_assert_str_eq(out, "[REDACTED:TOK]!");
    free(out);
    ck_assert_uint_eq(tx_redact_count(r, text, len), 1);
    tx_redactor_free(r);
}
END_TEST

/* The match count tx_redact_json_ref reports equals the text's: a host tool's result is
 * withheld whole when its parsed value shows fewer matches than its text held. */
START_TEST(test_hits_match_text)
{
    tx_redactor *r = with("TOK", "tok-12345");
    const char *text = "{\"tok-12345 tok-12345\":[\"tok-12345\",\"x\\u0074ok-12345\"],\"n\":1}";
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(v);
    size_t hits = 0;
    ck_assert_int_eq(tx_redact_json_ref(r, &v, &hits), 0);
    ck_assert_uint_eq(hits, 4);
    ck_assert_uint_eq(tx_redact_count(r, text, strlen(text)), 4);
    json_decref(v);
    /* A secret spread over JSON syntax is in the text but in no single value. */
    tx_redactor_free(r);
    r = with("ODD", "a\",\"b-secret");
    text = "[\"a\",\"b-secret\"]";
    v = json_loads(text, 0, &jerr);
    ck_assert_int_eq(tx_redact_json_ref(r, &v, &hits), 0);
    ck_assert_uint_eq(hits, 0);
    ck_assert_uint_eq(tx_redact_count(r, text, strlen(text)), 1);
    json_decref(v);
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
    tcase_add_test(tc, test_json_escaped_text);
    tcase_add_test(tc, test_json_numbers);
    tcase_add_test(tc, test_stream_split_chunks);
    tcase_add_test(tc, test_tail_window);
    tcase_add_test(tc, test_hits_match_text);
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
