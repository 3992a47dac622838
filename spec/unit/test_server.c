/* test_server.c - the broker's request handler: allowlist, phases, journal records, modules. */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

typedef struct fixture {
    tx_config cfg;
    tx_server *s;
    char dir[64];
} fixture;

static void setup(fixture *f, tx_tokens *tokens)
{
    tx_config_init(&f->cfg);
    tx_error err;
    ck_assert_int_eq(tx_config_load_string(&f->cfg, "t.yml", "tools: [host.ping]\n", 19, &err), 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/tx-server-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    tx_server_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.run_id = "r1";
    opts.proc_dir = f->dir;
    opts.config = &f->cfg;
    opts.tokens = tokens;
    f->s = tx_server_new(&opts, &err);
    ck_assert_ptr_nonnull(f->s);
}

static void teardown(fixture *f)
{
    tx_server_free(f->s);
    tx_config_free(&f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Sends {id:1, method, params} and returns the response (caller frees). */
static json_t *call(fixture *f, const char *method, json_t *params)
{
    tx_request req = {NULL, json_integer(1), method, params};
    json_t *resp = tx_server_handle(f->s, &req);
    json_decref(req.id);
    json_decref(params);
    ck_assert_ptr_nonnull(resp);
    return resp;
}

static const char *error_type(json_t *resp)
{
    return json_string_value(json_object_get(json_object_get(resp, "error"), "type"));
}

static const char *error_message(json_t *resp)
{
    return json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
}

START_TEST(allowlist)
{
    fixture f;
    setup(&f, NULL);
    json_t *r =
        call(&f, "tool.call", json_pack("{s:s, s:{s:i}}", "name", "host.ping", "args", "v", 1));
    ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "done");
    ck_assert(
        json_is_true(json_object_get(json_object_get(json_object_get(r, "data"), "result"), "ok")));
    json_decref(r);
    r = call(&f, "tool.call", json_pack("{s:s, s:{}}", "name", "host.echo", "args"));
    ck_assert_str_eq(error_type(r), "ToolNotAllowed");
    ck_assert_str_eq(error_message(r), "Tool not allowlisted: host.echo");
    json_decref(r);
    r = call(&f, "tool.call", json_pack("{s:s}", "name", "../../bin/sh"));
    ck_assert_str_eq(error_type(r), "BadRequest");
    json_decref(r);
    r = call(&f, "no.such", json_object());
    ck_assert_str_eq(error_type(r), "MethodNotFound");
    json_decref(r);
    ck_assert_int_eq(tx_server_host_calls(f.s), 2);
    teardown(&f);
}
END_TEST

START_TEST(phases_are_enforced)
{
    unsigned char raw[3][TX_TOKEN_BYTES];
    char hex[3][TX_TOKEN_BYTES * 2 + 1];
    tx_tokens *t = tx_tokens_new(raw);
    for (int k = 0; k < 3; k++)
        tx_token_hex(raw[k], hex[k], sizeof hex[k]);
    fixture f;
    setup(&f, t);
    json_t *r = call(&f, "tool.call", json_pack("{s:s}", "name", "host.ping"));
    ck_assert_str_eq(error_type(r), "BadRequest"); /* before setup/run: refused */
    json_decref(r);
    r = call(&f, "session.run", json_pack("{s:s}", "token", hex[1])); /* out of order */
    ck_assert_str_eq(error_type(r), "BadRequest");
    json_decref(r);
    r = call(&f, "session.setup", json_pack("{s:s}", "token", hex[0]));
    ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "done");
    json_decref(r);
    r = call(&f, "session.setup", json_pack("{s:s}", "token", hex[0])); /* reuse */
    ck_assert_ptr_nonnull(strstr(error_message(r), "already used"));
    json_decref(r);
    r = call(&f, "session.run", json_pack("{s:s}", "token", hex[1]));
    json_decref(r);
    r = call(&f, "tool.call", json_pack("{s:s}", "name", "host.ping"));
    ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "done");
    json_decref(r);
    r = call(&f, "run.finish", json_pack("{s:{}, s:s}", "result", "token", hex[0]));
    ck_assert_str_eq(error_type(r), "BadRequest"); /* wrong token for upload */
    json_decref(r);
    r = call(&f, "run.finish",
             json_pack("{s:{s:s}, s:s}", "result", "status", "ok", "token", hex[2]));
    ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "done");
    json_decref(r);
    json_t *res = tx_server_take_result(f.s);
    ck_assert_ptr_nonnull(res);
    json_decref(res);
    r = call(&f, "tool.call", json_pack("{s:s}", "name", "host.ping")); /* after upload */
    ck_assert_str_eq(error_type(r), "BadRequest");
    json_decref(r);
    teardown(&f);
    tx_tokens_free(t);
}
END_TEST

START_TEST(journal_records_are_checked)
{
    fixture f;
    setup(&f, NULL);
    json_t *r = call(&f, "journal.append",
                     json_pack("{s:{s:i, s:s, s:n, s:s, s:i}}", "record", "pos", 2, "kind",
                               "checkpoint", "name", "site", "x.tac:1", "result", 1));
    ck_assert_ptr_nonnull(strstr(error_message(r), "expected position 1"));
    json_decref(r);
    r = call(&f, "journal.append",
             json_pack("{s:{s:i, s:s, s:n, s:s}}", "record", "pos", 1, "kind", "rm -rf", "name",
                       "site", "x"));
    ck_assert_ptr_nonnull(strstr(error_message(r), "unknown record kind"));
    json_decref(r);
    r = call(&f, "journal.append",
             json_pack("{s:{s:i, s:s, s:s, s:s}}", "record", "pos", 1, "kind", "host_call", "name",
                       "host.ping", "site", "x"));
    ck_assert_str_eq(error_type(r), "BadRequest"); /* host calls are journaled by the broker */
    json_decref(r);
    r = call(&f, "journal.append",
             json_pack("{s:{s:i, s:s, s:n, s:s, s:i, s:n}}", "record", "pos", 1, "kind",
                       "checkpoint", "name", "site", "x.tac:1", "result", 42, "error"));
    ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "done");
    json_decref(r);
    /* A journaled host call takes the next position and is recorded before the reply. */
    r = call(&f, "tool.call",
             json_pack("{s:s, s:i, s:s}", "name", "host.ping", "pos", 2, "site", "x.tac:2"));
    ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "done");
    json_decref(r);
    ck_assert_int_eq(tx_server_journal_count(f.s), 2);
    r = call(&f, "journal.read", json_pack("{s:i}", "from", 1));
    json_t *records = json_object_get(json_object_get(r, "data"), "records");
    ck_assert_int_eq(json_array_size(records), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(records, 1), "kind")),
                     "host_call");
    json_decref(r);
    teardown(&f);
}
END_TEST

START_TEST(modules_stay_inside)
{
    fixture f;
    setup(&f, NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/lib.lua", f.dir);
    FILE *fp = fopen(path, "w");
    fputs("return 1\n", fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/escape.lua", f.dir);
    ck_assert_int_eq(symlink("/etc/passwd", path), 0);
    json_t *r = call(&f, "module.load", json_pack("{s:s}", "name", "lib"));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "data"), "source")),
                     "return 1\n");
    json_decref(r);
    static const char *const bad[] = {"../etc/passwd", "/etc/passwd", "escape", "a/../../b", NULL};
    for (int i = 0; bad[i]; i++) {
        r = call(&f, "module.load", json_pack("{s:s}", "name", bad[i]));
        ck_assert_msg(error_type(r) != NULL, "%s was loaded", bad[i]);
        json_decref(r);
    }
    teardown(&f);
}
END_TEST

START_TEST(runner_cannot_forge_events)
{
    fixture f;
    setup(&f, NULL);
    json_t *r = call(&f, "events.emit",
                     json_pack("{s:{s:s, s:s}}", "event", "type", "finished", "status", "ok"));
    ck_assert_str_eq(error_type(r), "BadRequest");
    json_decref(r);
    r = call(
        &f, "events.emit",
        json_pack("{s:{s:s, s:s, s:s}}", "event", "type", "log", "level", "info", "message", "hi"));
    ck_assert_str_eq(json_string_value(json_object_get(r, "event")), "done");
    json_decref(r);
    teardown(&f);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("server");
    tcase_add_test(tc, allowlist);
    tcase_add_test(tc, phases_are_enforced);
    tcase_add_test(tc, journal_records_are_checked);
    tcase_add_test(tc, modules_stay_inside);
    tcase_add_test(tc, runner_cannot_forge_events);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(server_suite)
