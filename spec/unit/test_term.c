/* test_term.c - text made safe for the terminal (broker/term.c). */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>

#include "term.h"

static void expect(const char *in, size_t len, int flags, const char *want)
{
    char *got = tx_term_escape(in, len, flags);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strcmp(got, want) == 0, "escaped to '%s', want '%s'", got, want);
    free(got);
}

#define EXPECT(lit, flags, want) expect(lit, sizeof(lit) - 1, flags, want)

START_TEST(controls_are_spelled_out)
{
    EXPECT("\x1b[2K\rtactus: ok\n", 0, "\\x1b[2K\\rtactus: ok\\n");
    EXPECT("a\tb\x01\x7f", 0, "a\\tb\\x01\\x7f");
    EXPECT("nul\0byte", 0, "nul\\x00byte");
    EXPECT("line\nbreak", TX_TERM_KEEP_NEWLINES, "line\nbreak");
    EXPECT("cr\r kept out", TX_TERM_KEEP_NEWLINES, "cr\\r kept out");
}
END_TEST

START_TEST(c1_bidi_and_bad_utf8)
{
    EXPECT("csi \xc2\x9b nel \xc2\x85", 0, "csi \\u{009b} nel \\u{0085}");
    EXPECT("rlo \xe2\x80\xae iso \xe2\x81\xa6 ls \xe2\x80\xa8", 0,
           "rlo \\u{202e} iso \\u{2066} ls \\u{2028}");
    EXPECT("bad \xff \xc0\xaf \xed\xa0\x80 cut \xe2\x82", 0,
           "bad \\xff \\xc0\\xaf \\xed\\xa0\\x80 cut \\xe2\\x82");
    /* Printable text, UTF-8 and backslashes included, passes unchanged. */
    EXPECT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 a\\nb", 0,
           "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 a\\nb");
    /* The worst case fits: every byte 4 wide. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)(i == 0 ? 1 : i);
    char *got = tx_term_escape(all, sizeof all, 0);
    ck_assert_ptr_nonnull(got);
    for (const unsigned char *p = (const unsigned char *)got; *p; p++)
        ck_assert_msg(*p >= 0x20 && *p < 0x7f, "byte 0x%02x left raw", *p);
    free(got);
}
END_TEST

static Suite *term_suite(void)
{
    Suite *s = suite_create("term");
    TCase *tc = tcase_create("term");
    tcase_add_test(tc, controls_are_spelled_out);
    tcase_add_test(tc, c1_bidi_and_bad_utf8);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(term_suite)
