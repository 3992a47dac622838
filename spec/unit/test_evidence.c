/* test_evidence.c - the run directory writer: unique streams, numbered events, atomic files. */
#include <check.h>

#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evidence.h"

static char root[64];

static void make_root(void)
{
    snprintf(root, sizeof root, "/tmp/tx-evidence-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void remove_root(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

START_TEST(events_are_numbered_lines)
{
    make_root();
    char dir[128], path[160];
    snprintf(dir, sizeof dir, "%s/runs/r1", root); /* parents are created */
    tx_evidence *ev = NULL;
    tx_error err;
    ck_assert_int_eq(tx_evidence_open(dir, 0, &ev, &err), 0);
    json_t *e = json_pack("{s:s, s:s}", "type", "log", "message", "one\ntwo");
    ck_assert_int_eq(tx_evidence_event(ev, e, &err), 0);
    ck_assert_int_eq(tx_evidence_event(ev, e, &err), 0);
    json_decref(e);
    tx_evidence_close(ev);
    snprintf(path, sizeof path, "%s/stream.jsonl", dir);
    char *text = slurp(path);
    ck_assert_ptr_nonnull(text);
    /* Two lines, each a whole JSON object; the newline inside the message is escaped. */
    char *nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_ptr_nonnull(strstr(text, "\"seq\":1"));
    ck_assert_ptr_nonnull(strstr(nl, "\"seq\":2"));
    ck_assert_ptr_nonnull(strstr(text, "one\\ntwo"));
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    /* A second new run in the same directory is refused; a resume continues the numbering. */
    ck_assert_int_eq(tx_evidence_open(dir, 0, &ev, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "already in use"));
    ck_assert_int_eq(tx_evidence_open(dir, 1, &ev, &err), 0);
    e = json_pack("{s:s}", "type", "run_resumed");
    ck_assert_int_eq(tx_evidence_event(ev, e, &err), 0);
    json_decref(e);
    tx_evidence_close(ev);
    ck_assert_ptr_nonnull(strstr(slurp(path), "\"seq\":3"));
    remove_root();
}
END_TEST

START_TEST(json_files_replace_atomically)
{
    make_root();
    char dir[128], path[160];
    snprintf(dir, sizeof dir, "%s/r2", root);
    tx_evidence *ev = NULL;
    tx_error err;
    ck_assert_int_eq(tx_evidence_open(dir, 0, &ev, &err), 0);
    json_t *v = json_pack("{s:s}", "status", "running");
    ck_assert_int_eq(tx_evidence_write_json(ev, "result.json", v, &err), 0);
    json_decref(v);
    v = json_pack("{s:s}", "status", "ok");
    ck_assert_int_eq(tx_evidence_write_json(ev, "result.json", v, &err), 0);
    json_decref(v);
    snprintf(path, sizeof path, "%s/result.json", dir);
    ck_assert_ptr_nonnull(strstr(slurp(path), "\"status\": \"ok\""));
    /* No temporary file is left behind. */
    snprintf(path, sizeof path, "%s/.result.json.tmp", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(tx_evidence_sync(ev, &err), 0);
    tx_evidence_close(ev);
    remove_root();
}
END_TEST

START_TEST(unwritable_places_are_errors)
{
    tx_evidence *ev = NULL;
    tx_error err;
    ck_assert_int_eq(tx_evidence_open("/proc/tactus-cannot-be-here/run", 0, &ev, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "/proc/tactus-cannot-be-here"));
    char utc[40];
    tx_utc_now(utc, sizeof utc);
    ck_assert_uint_eq(strlen(utc), 24);
    ck_assert_int_eq(utc[23], 'Z');
}
END_TEST

typedef struct array_iter {
    json_t *array;
    size_t next;
    size_t fail_at; /* 0: never */
} array_iter;

static int next_of(void *ud, json_t **out, tx_error *err)
{
    array_iter *it = ud;
    if (it->fail_at != 0 && it->next + 1 == it->fail_at)
        return tx_fail(err, TACTUS_ESYSTEM, "element %zu is gone", it->next + 1);
    if (it->next >= json_array_size(it->array))
        return 0;
    *out = json_incref(json_array_get(it->array, it->next++));
    return 1;
}

/* steps.json written one element at a time reads exactly like the array written at once. */
START_TEST(arrays_stream_like_whole_files)
{
    make_root();
    char dir[128], path[160], whole[65536];
    snprintf(dir, sizeof dir, "%s/r4", root);
    tx_evidence *ev = NULL;
    tx_error err;
    ck_assert_int_eq(tx_evidence_open(dir, 0, &ev, &err), 0);
    json_t *arrays[] = {json_array(), json_pack("[{s:i, s:[i, {s:s}], s:{}}, i, s]", "pos", 1,
                                                "result", 2, "k", "line\nbreak", "e", 7, "x")};
    snprintf(path, sizeof path, "%s/steps.json", dir);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(tx_evidence_write_json(ev, "steps.json", arrays[i], &err), 0);
        snprintf(whole, sizeof whole, "%s", slurp(path));
        array_iter it = {arrays[i], 0, 0};
        ck_assert_int_eq(tx_evidence_write_array(ev, "steps.json", next_of, &it, &err), 0);
        ck_assert_str_eq(slurp(path), whole);
    }
    /* A failing producer leaves the old file and says why. */
    array_iter it = {arrays[1], 0, 2};
    ck_assert_int_eq(tx_evidence_write_array(ev, "steps.json", next_of, &it, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "element 2 is gone"));
    ck_assert_str_eq(slurp(path), whole);
    snprintf(path, sizeof path, "%s/.steps.json.tmp", dir);
    ck_assert_int_ne(access(path, F_OK), 0);
    json_decref(arrays[0]);
    json_decref(arrays[1]);
    tx_evidence_close(ev);
    remove_root();
}
END_TEST

static Suite *evidence_suite(void)
{
    Suite *s = suite_create("evidence");
    TCase *tc = tcase_create("evidence");
    tcase_add_test(tc, events_are_numbered_lines);
    tcase_add_test(tc, json_files_replace_atomically);
    tcase_add_test(tc, unwritable_places_are_errors);
    tcase_add_test(tc, arrays_stream_like_whole_files);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(evidence_suite)
