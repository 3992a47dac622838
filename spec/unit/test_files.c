/* test_files.c - the File primitive's broker side: everything stays beneath the workspace. */
#include <check.h>

#include "check_main.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

/* A fresh workspace holding secret.txt *outside* it (in its parent) for links to aim at. */
static char outer[64], base[80];

static void setup(void)
{
    snprintf(outer, sizeof outer, "/tmp/tx_files_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(outer));
    snprintf(base, sizeof base, "%s/ws", outer);
    ck_assert_int_eq(mkdir(base, 0755), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/secret.txt", outer);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("top secret", f);
    ck_assert_int_eq(fclose(f), 0);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", outer);
    ck_assert_int_eq(system(cmd), 0);
}

static void link_in_base(const char *target, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", base, name);
    ck_assert_int_eq(symlink(target, path), 0);
}

START_TEST(write_then_read_and_stat)
{
    char emsg[256];
    const char *kind = NULL;
    ck_assert_int_eq(
        tx_files_write(base, "a/b/c.txt", (const unsigned char *)"hi", 2, &kind, emsg, sizeof emsg),
        0);
    json_t *r = tx_files_read(base, "a/b/c.txt", &kind, emsg, sizeof emsg);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(json_string_value(json_object_get(r, "content")), "hi");
    ck_assert_ptr_null(json_object_get(r, "base64"));
    json_decref(r);
    json_t *st = tx_files_stat(base, "a/b/c.txt", &kind, emsg, sizeof emsg);
    ck_assert(json_is_true(json_object_get(st, "exists")));
    ck_assert_int_eq(json_integer_value(json_object_get(st, "size")), 2);
    json_decref(st);
    st = tx_files_stat(base, "a/b", &kind, emsg, sizeof emsg); /* a directory is not a file */
    ck_assert(json_is_false(json_object_get(st, "exists")));
    json_decref(st);
}
END_TEST

START_TEST(binary_comes_back_as_base64)
{
    char emsg[256];
    const char *kind = NULL;
    const unsigned char bytes[] = {0x00, 0xff, 0x01};
    ck_assert_int_eq(tx_files_write(base, "b.bin", bytes, sizeof bytes, &kind, emsg, sizeof emsg),
                     0);
    json_t *r = tx_files_read(base, "b.bin", &kind, emsg, sizeof emsg);
    ck_assert_ptr_nonnull(r);
    ck_assert(json_is_true(json_object_get(r, "base64")));
    ck_assert_str_eq(json_string_value(json_object_get(r, "content")), "AP8B");
    json_decref(r);
}
END_TEST

START_TEST(absolute_and_dotdot_refused_by_name)
{
    char emsg[256];
    const char *kind = NULL;
    ck_assert_ptr_null(tx_files_read(base, "/etc/passwd", &kind, emsg, sizeof emsg));
    ck_assert_str_eq(emsg, "Absolute paths not allowed: /etc/passwd");
    ck_assert_str_eq(kind, TX_FILES_BAD_PATH);
    const char *climbs[] = {"..", "../secret.txt", "a/../../secret.txt", "a/.."};
    for (size_t i = 0; i < sizeof climbs / sizeof climbs[0]; i++) {
        ck_assert_ptr_null(tx_files_read(base, climbs[i], &kind, emsg, sizeof emsg));
        ck_assert_msg(strstr(emsg, "Path traversal detected") != NULL, "%s: %s", climbs[i], emsg);
        ck_assert_int_eq(tx_files_write(base, climbs[i], (const unsigned char *)"x", 1, &kind, emsg,
                                        sizeof emsg),
                         -1);
    }
    /* ".." inside a name is an ordinary name. */
    ck_assert_int_eq(
        tx_files_write(base, "a..b", (const unsigned char *)"x", 1, &kind, emsg, sizeof emsg), 0);
}
END_TEST

START_TEST(links_never_followed)
{
    char emsg[256], target[128];
    const char *kind = NULL;
    snprintf(target, sizeof target, "%s/secret.txt", outer);
    link_in_base(target, "abs_link");
    link_in_base("../secret.txt", "rel_link");
    link_in_base(outer, "dir_link");
    const char *reads[] = {"abs_link", "rel_link", "dir_link/secret.txt"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        ck_assert_ptr_null(tx_files_read(base, reads[i], &kind, emsg, sizeof emsg));
        ck_assert_msg(strstr(emsg, "Path traversal detected") != NULL, "%s: %s", reads[i], emsg);
        ck_assert_str_eq(kind, TX_FILES_BAD_PATH);
    }
    /* Writing through a link must not replace the file it points at. */
    ck_assert_int_eq(tx_files_write(base, "abs_link", (const unsigned char *)"pwned", 5, &kind,
                                    emsg, sizeof emsg),
                     -1);
    ck_assert_int_eq(tx_files_write(base, "dir_link/new.txt", (const unsigned char *)"x", 1, &kind,
                                    emsg, sizeof emsg),
                     -1);
    char path[160];
    snprintf(path, sizeof path, "%s/new.txt", outer);
    ck_assert_int_eq(access(path, F_OK), -1);
    json_t *r = tx_files_read(outer, "secret.txt", &kind, emsg, sizeof emsg);
    ck_assert_str_eq(json_string_value(json_object_get(r, "content")), "top secret");
    json_decref(r);
}
END_TEST

START_TEST(large_and_special_files_refused)
{
    char emsg[256], path[128];
    const char *kind = NULL;
    snprintf(path, sizeof path, "%s/big", base);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (2 << 20)), 0);
    close(fd);
    ck_assert_ptr_null(tx_files_read(base, "big", &kind, emsg, sizeof emsg));
    ck_assert_ptr_nonnull(strstr(emsg, "at most"));
    snprintf(path, sizeof path, "%s/fifo", base);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    json_t *st = tx_files_stat(base, "fifo", &kind, emsg, sizeof emsg);
    ck_assert(json_is_false(json_object_get(st, "exists")));
    json_decref(st);
    /* Neither reading nor writing a FIFO may block the broker. */
    ck_assert_ptr_null(tx_files_read(base, "fifo", &kind, emsg, sizeof emsg));
    ck_assert_int_eq(
        tx_files_write(base, "fifo", (const unsigned char *)"x", 1, &kind, emsg, sizeof emsg), -1);
}
END_TEST

START_TEST(trusted_paths_protected)
{
    char emsg[256], home[128];
    const char *kind = NULL;
    snprintf(home, sizeof home, "%s/state/home", base);
    ck_assert_int_eq(tx_files_write(base, "state/home/key", (const unsigned char *)"k", 1, &kind,
                                    emsg, sizeof emsg),
                     0);
    ck_assert_int_eq(setenv("TACTUS_HOME", home, 1), 0);
    const char *unreadable[] = {".tactus/runs/r/journal.jsonl", "./.tactus", "a//.tactus/x",
                                "state/home/key", "./state//home"};
    for (size_t i = 0; i < sizeof unreadable / sizeof unreadable[0]; i++) {
        ck_assert_ptr_null(tx_files_read(base, unreadable[i], &kind, emsg, sizeof emsg));
        ck_assert_msg(strstr(emsg, "is protected") != NULL, "%s: %s", unreadable[i], emsg);
        ck_assert_str_eq(kind, TX_FILES_FAILED);
        ck_assert_ptr_null(tx_files_stat(base, unreadable[i], &kind, emsg, sizeof emsg));
    }
    const char *unwritable[] = {".tactus/config.yml", ".git/hooks/pre-commit", "proc.tac.yml",
                                "sub/x.tac.yaml", "state/home/secrets.json"};
    for (size_t i = 0; i < sizeof unwritable / sizeof unwritable[0]; i++) {
        ck_assert_int_eq(tx_files_write(base, unwritable[i], (const unsigned char *)"x", 1, &kind,
                                        emsg, sizeof emsg),
                         -1);
        ck_assert_msg(strstr(emsg, "is protected") != NULL, "%s: %s", unwritable[i], emsg);
    }
    /* Near misses are ordinary files. */
    ck_assert_int_eq(tx_files_write(base, ".tactusx/a.tac.yml.txt", (const unsigned char *)"x", 1,
                                    &kind, emsg, sizeof emsg),
                     0);
    ck_assert_int_eq(unsetenv("TACTUS_HOME"), 0);
}
END_TEST

static Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, write_then_read_and_stat);
    tcase_add_test(tc, binary_comes_back_as_base64);
    tcase_add_test(tc, absolute_and_dotdot_refused_by_name);
    tcase_add_test(tc, links_never_followed);
    tcase_add_test(tc, large_and_special_files_refused);
    tcase_add_test(tc, trusted_paths_protected);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(files_suite)
