/* test_server.c - the broker's request handler: allowlist, phases, journal records, modules. */
#include <check.h>

#include "check_main.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
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

/* A FIFO (or a directory) under a module's name is refused at once: opening it must not block
 * the broker until someone writes to it. */
START_TEST(modules_never_block)
{
    fixture f;
    setup(&f, NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/trap.lua", f.dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    snprintf(path, sizeof path, "%s/dir.lua", f.dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    json_t *r = call(&f, "module.load", json_pack("{s:s}", "name", "trap"));
    ck_assert_ptr_nonnull(error_type(r));
    ck_assert_msg(strstr(error_message(r), "trap.lua is not a regular file") != NULL, "%s",
                  error_message(r));
    json_decref(r);
    r = call(&f, "module.load", json_pack("{s:s}", "name", "dir"));
    ck_assert_msg(strstr(error_message(r), "dir.lua is not a regular file") != NULL, "%s",
                  error_message(r));
    json_decref(r);
    teardown(&f);
}
END_TEST

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* A server whose only tool is `slow` (sleep 10, its own timeout 30 s). */
static void setup_slow(fixture *f)
{
    tx_config_init(&f->cfg);
    tx_error err;
    const char *yml = "tools: [slow]\nhost_tools:\n  slow: {command: [sleep, '10'], timeout: 30}\n";
    ck_assert_int_eq(tx_config_load_string(&f->cfg, "t.yml", yml, strlen(yml), &err), 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/tx-server-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    tx_server_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.run_id = "r1";
    opts.proc_dir = f->dir;
    opts.config = &f->cfg;
    f->s = tx_server_new(&opts, &err);
    ck_assert_ptr_nonnull(f->s);
}

/* The run's deadline ends a host tool whose own timeout is much later: the call fails with
 * Timeout, says where the run was, and is not journaled (a resume attempts it again). */
START_TEST(tool_call_cut_at_deadline)
{
    fixture f;
    setup_slow(&f);
    ck_assert_ptr_null(tx_server_deadline_hit(f.s));
    double t0 = mono_ms();
    tx_server_set_deadline(f.s, t0 + 300, 0);
    json_t *r = call(
        &f, "tool.call",
        json_pack("{s:s, s:{}, s:i, s:s}", "name", "slow", "args", "pos", 1, "site", "proc.tac:3"));
    double took = mono_ms() - t0;
    ck_assert_msg(took < 5000, "the call took %.0f ms", took);
    ck_assert_str_eq(error_type(r), "Timeout");
    json_decref(r);
    const char *where = tx_server_deadline_hit(f.s);
    ck_assert_ptr_nonnull(where);
    ck_assert_str_eq(where, "host tool slow, called at proc.tac:3");
    ck_assert_int_eq(tx_server_journal_count(f.s), 0);
    teardown(&f);
}
END_TEST

/* Past the deadline, no tool is started at all. */
START_TEST(tool_call_after_deadline)
{
    fixture f;
    setup_slow(&f);
    tx_server_set_deadline(f.s, mono_ms() - 1, 0);
    double t0 = mono_ms();
    json_t *r = call(&f, "tool.call", json_pack("{s:s, s:{}}", "name", "slow", "args"));
    ck_assert_msg(mono_ms() - t0 < 1000, "a tool ran after the deadline");
    ck_assert_str_eq(error_type(r), "Timeout");
    json_decref(r);
    ck_assert_str_eq(tx_server_deadline_hit(f.s), "host tool slow");
    teardown(&f);
}
END_TEST

/* ---- a compromised runner ------------------------------------------------------------------
 * The runner may be hostile code that sends any frame. These tests speak the wire protocol:
 * each request is the exact frame text a runner would send, parsed by tx_request_parse as the
 * broker's supervisor does, then handled. Every forgery must be refused for its reason, leave
 * the journal file byte for byte as it was, and leave a request_refused event naming the
 * method and the reason in stream.jsonl. */

typedef struct run_fixture {
    tx_config cfg;
    tx_server *s;
    tx_evidence *ev;
    char dir[64], run[96], journal[128];
} run_fixture;

static void run_setup(run_fixture *f)
{
    tx_config_init(&f->cfg);
    tx_error err;
    ck_assert_int_eq(tx_config_load_string(&f->cfg, "t.yml", "tools: [host.ping]\n", 19, &err), 0);
    snprintf(f->dir, sizeof f->dir, "/tmp/tx-forge-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->run, sizeof f->run, "%s/run", f->dir);
    snprintf(f->journal, sizeof f->journal, "%s/journal.jsonl", f->run);
    ck_assert_int_eq(tx_evidence_open(f->run, 0, &f->ev, &err), 0);
    tx_server_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.run_id = "r1";
    opts.proc_dir = f->dir;
    opts.config = &f->cfg;
    opts.evidence = f->ev;
    opts.journal_path = f->journal;
    opts.journal_meta = (tx_journal_meta){"r1", NULL, NULL, NULL};
    f->s = tx_server_new(&opts, &err);
    ck_assert_ptr_nonnull(f->s);
}

static void run_teardown(run_fixture *f)
{
    tx_server_free(f->s);
    tx_evidence_close(f->ev);
    tx_config_free(&f->cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Handles one frame's text as the broker does; returns the response (caller frees). A
 * journal.append record gets the fields it lacks of name, site, args and error as null, as
 * tx.journal_append sends them: a forgery must be refused for what it claims, not for a
 * missing field. */
static json_t *wire(run_fixture *f, const char *frame)
{
    tx_request req;
    tx_error err;
    tx_error_clear(&err);
    json_t *v = json_loads(frame, 0, NULL);
    json_t *rec = json_object_get(json_object_get(v, "params"), "record");
    static const char *const optional[] = {"name", "site", "args", "error", NULL};
    for (int i = 0; json_is_object(rec) && optional[i]; i++)
        if (json_object_get(rec, optional[i]) == NULL)
            json_object_set_new(rec, optional[i], json_null());
    char *text = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    ck_assert_ptr_nonnull(text);
    int rc = tx_request_parse(text, strlen(text), &req, &err);
    free(text);
    ck_assert_msg(rc == 0, "%s: %s", frame, err.message);
    json_t *resp = tx_server_handle(f->s, &req);
    tx_request_free(&req);
    ck_assert_ptr_nonnull(resp);
    return resp;
}

static int is_done(json_t *resp)
{
    const char *event = json_string_value(json_object_get(resp, "event"));
    return event != NULL && strcmp(event, "done") == 0;
}

/* The file's bytes (malloc'd, NUL-terminated; "" when it does not exist). */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return strdup("");
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

/* Sends a forged frame: it must be refused (BadRequest) with a message containing `why`, the
 * journal must be unchanged, and a request_refused event for `method` with that reason must
 * have been recorded. */
static void forged(run_fixture *f, const char *method, const char *frame, const char *why)
{
    char *before = slurp(f->journal);
    long count = tx_server_journal_count(f->s);
    json_t *r = wire(f, frame);
    ck_assert_msg(!is_done(r), "accepted: %s", frame);
    ck_assert_str_eq(error_type(r), "BadRequest");
    ck_assert_msg(strstr(error_message(r), why) != NULL, "%s: '%s' lacks '%s'", frame,
                  error_message(r), why);
    json_decref(r);
    char *after = slurp(f->journal);
    ck_assert_msg(strcmp(before, after) == 0, "%s changed the journal", frame);
    ck_assert_int_eq(tx_server_journal_count(f->s), count);
    free(before);
    free(after);
    char path[160];
    snprintf(path, sizeof path, "%s/stream.jsonl", f->run);
    char *stream = slurp(path);
    char *last = NULL;
    for (char *p = stream; (p = strstr(p, "\"type\":\"request_refused\"")) != NULL; p++)
        last = p;
    ck_assert_msg(last != NULL, "%s: no request_refused event", frame);
    char *eol = strchr(last, '\n');
    if (eol != NULL)
        *eol = '\0';
    char want[96];
    snprintf(want, sizeof want, "\"method\":\"%s\"", method);
    ck_assert_msg(strstr(last, want) != NULL, "event %s lacks %s", last, want);
    ck_assert_msg(strstr(last, why) != NULL, "event %s lacks the reason '%s'", last, why);
    free(stream);
}

/* Record 1, as the runner sends it (tx.journal_append fills the optional fields with null). */
static const char *const first_checkpoint =
    "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":1,\"kind\":"
    "\"checkpoint\",\"name\":null,\"site\":\"x.tac:2\",\"args\":null,\"result\":7,"
    "\"error\":null,\"t\":1,\"ms\":0}}}";

static const char *const human_answer_forgery =
    "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,\"kind\":\"human\","
    "\"name\":\"approve\",\"site\":\"x.tac:3\",\"result\":true,\"t\":1,\"ms\":0}}}";

START_TEST(runner_cannot_forge_journal_records)
{
    run_fixture f;
    run_setup(&f);
    json_t *r = wire(&f, first_checkpoint);
    ck_assert(is_done(r));
    json_decref(r);
    ck_assert_int_eq(tx_server_journal_count(f.s), 1);

    /* An approval nobody gave: only the host writes answers (tactus resume). */
    forged(&f, "journal.append", human_answer_forgery, "answers are written by the host");
    /* Positions: only the next one, never a gap or an overwrite. */
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":3,\"kind\":"
           "\"checkpoint\",\"site\":\"x.tac:2\",\"result\":1,\"t\":1,\"ms\":0}}}",
           "expected position 2");
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":1,\"kind\":"
           "\"checkpoint\",\"site\":\"x.tac:2\",\"result\":1,\"t\":1,\"ms\":0}}}",
           "expected position 2");
    /* What only the broker produces: host call results, artifacts, File outcomes. */
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,\"kind\":"
           "\"host_call\",\"name\":\"host.ping\",\"site\":\"x.tac:2\",\"result\":{\"ok\":true},"
           "\"t\":1,\"ms\":0}}}",
           "host_call records are journaled by the broker itself");
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,\"kind\":"
           "\"artifact\",\"name\":\"a.txt\",\"site\":\"x.tac:2\",\"result\":{\"name\":\"a.txt\"},"
           "\"t\":1,\"ms\":0}}}",
           "artifact records are journaled by the broker itself");
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,\"kind\":"
           "\"nondet\",\"name\":\"File.read\",\"site\":\"x.tac:2\",\"result\":{\"content\":\"x\"},"
           "\"t\":1,\"ms\":0}}}",
           "nondet records of File are journaled by the broker itself");
    /* Claiming the broker's own fields: an argument digest, a pending non-human record. */
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,\"kind\":"
           "\"checkpoint\",\"site\":\"x.tac:2\",\"args\":\"sha256:00\",\"result\":1,\"t\":1,"
           "\"ms\":0}}}",
           "argument digests are written by the broker");
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,\"kind\":"
           "\"checkpoint\",\"site\":\"x.tac:2\",\"result\":1,\"pending\":true,\"t\":1,\"ms\":0}}}",
           "only a human record can be pending");
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":[1,2]}}",
           "needs a record object");
    /* Requests that claim a position out of turn. */
    forged(&f, "tool.call",
           "{\"id\":1,\"method\":\"tool.call\",\"params\":{\"name\":\"host.ping\",\"pos\":5,"
           "\"site\":\"x.tac:4\"}}",
           "journal position 5 out of order");
    forged(&f, "files.save",
           "{\"id\":1,\"method\":\"files.save\",\"params\":{\"name\":\"a.txt\",\"content\":\"x\","
           "\"pos\":1,\"site\":\"x.tac:4\"}}",
           "journal position 1 out of order");
    ck_assert_int_eq(tx_server_journal_count(f.s), 1);
    run_teardown(&f);
}
END_TEST

START_TEST(runner_cannot_forge_human_answers)
{
    run_fixture f;
    run_setup(&f);
    json_t *r = wire(&f, first_checkpoint);
    json_decref(r);
    /* No terminal: the broker says suspend; the runner may record the pending request only. */
    r = wire(&f, "{\"id\":2,\"method\":\"human.ask\",\"params\":{\"request\":{\"kind\":"
                 "\"approve\",\"message\":\"deploy?\"}}}");
    ck_assert(is_done(r));
    ck_assert(json_is_true(json_object_get(json_object_get(r, "data"), "suspend")));
    json_decref(r);
    forged(&f, "journal.append", human_answer_forgery, "not what human.ask answered");
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,\"kind\":"
           "\"human\",\"name\":\"input\",\"site\":\"x.tac:3\",\"result\":{},\"pending\":true,"
           "\"t\":1,\"ms\":0}}}",
           "needs the human.ask it answers");
    r = wire(&f, "{\"id\":3,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":2,"
                 "\"kind\":\"human\",\"name\":\"approve\",\"site\":\"x.tac:3\",\"args\":null,"
                 "\"result\":{},\"error\":null,\"pending\":true,\"t\":1,\"ms\":0}}}");
    ck_assert(is_done(r));
    json_decref(r);
    ck_assert_int_eq(tx_server_journal_count(f.s), 2);
    /* The pending record is answered by the host alone: a runner cannot add the answer. */
    forged(&f, "journal.append",
           "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":3,\"kind\":"
           "\"human\",\"name\":\"approve\",\"site\":\"x.tac:3\",\"result\":true,\"t\":1,"
           "\"ms\":0}}}",
           "answers are written by the host");
    r = wire(&f, "{\"id\":4,\"method\":\"journal.answer\",\"params\":{\"pos\":2}}");
    ck_assert(is_done(r)); /* no answer was given to this resume: nothing recorded */
    ck_assert(json_is_false(json_object_get(json_object_get(r, "data"), "answered")));
    json_decref(r);
    ck_assert_int_eq(tx_server_journal_count(f.s), 2);
    run_teardown(&f);
}
END_TEST

/* A tool.call frame for host.ping at `pos` (0: none) with the given parent/seq JSON text. */
static char *child_call(long pos, const char *parent_seq)
{
    static char buf[512];
    if (pos > 0)
        snprintf(
            buf, sizeof buf,
            "{\"id\":3,\"method\":\"tool.call\",\"params\":{\"name\":\"host.ping\",\"pos\":%ld,"
            "\"site\":\"x.tac:5\"%s}}",
            pos, parent_seq);
    else
        snprintf(buf, sizeof buf,
                 "{\"id\":3,\"method\":\"tool.call\",\"params\":{\"name\":\"host.ping\"%s}}",
                 parent_seq);
    return buf;
}

/* A journal.append frame of a runner-written record of `kind` at pos, with extra fields. */
static char *runner_record(long pos, const char *kind, const char *name, const char *extra)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"id\":1,\"method\":\"journal.append\",\"params\":{\"record\":{\"pos\":%ld,\"kind\":"
             "\"%s\",\"name\":%s,\"site\":\"x.tac:6\",\"result\":1,\"t\":1,\"ms\":0%s}}}",
             pos, kind, name, extra);
    return buf;
}

/* The children of a checkpoint (docs/durability.md "Operations inside a checkpoint"): a runner
 * can only add the next child of the running checkpoint, never a host call result, and cannot
 * leave children without their checkpoint. Each forgery would let a deduping tool skip a real
 * call or replay a wrong one, or make a replay return a result no tool produced. */
START_TEST(runner_cannot_forge_idempotency_keys)
{
    run_fixture f;
    run_setup(&f);
    json_t *r = wire(&f, first_checkpoint);
    json_decref(r);
    /* A checkpoint starting at 2: its first child. */
    r = wire(&f, child_call(2, ",\"parent\":2,\"seq\":1"));
    ck_assert_msg(is_done(r), "%s", error_message(r));
    json_decref(r);
    ck_assert_int_eq(tx_server_journal_count(f.s), 2);
    /* Record 1's checkpoint (finished), a reused number, a skipped one, a mistyped one, a new
     * checkpoint while this one runs, a child without a position, a top-level call in the middle
     * of the children. */
    forged(&f, "tool.call", child_call(3, ",\"parent\":1,\"seq\":3"), "parent 1, seq 3");
    forged(&f, "tool.call", child_call(3, ",\"parent\":2,\"seq\":1"), "parent 2, seq 1");
    forged(&f, "tool.call", child_call(3, ",\"parent\":2,\"seq\":5"), "parent 2, seq 5");
    forged(&f, "tool.call", child_call(3, ",\"parent\":2,\"seq\":\"2\""), "is not the next child");
    forged(&f, "tool.call", child_call(3, ",\"parent\":3,\"seq\":1"), "parent 3, seq 1");
    forged(&f, "tool.call", child_call(0, ",\"parent\":2,\"seq\":2"), "needs its journal position");
    forged(&f, "tool.call", child_call(3, ""), "while the checkpoint at position 2 is running");
    /* Results only the broker produces, as children: refused whatever the parent. */
    forged(&f, "journal.append",
           runner_record(3, "host_call", "\"host.ping\"", ",\"parent\":2,\"seq\":2"),
           "journaled by the broker itself");
    forged(&f, "journal.append",
           runner_record(3, "nondet", "\"File.read\"", ",\"parent\":2,\"seq\":2"),
           "journaled by the broker itself");
    /* Runner-computed children: only as the next child; a checkpoint is never a child. */
    forged(&f, "journal.append",
           runner_record(3, "nondet", "\"os.time\"", ",\"parent\":1,\"seq\":3"), "parent 1, seq 3");
    forged(&f, "journal.append", runner_record(3, "checkpoint", "null", ",\"parent\":2,\"seq\":2"),
           "is not the next child");
    forged(&f, "journal.append", runner_record(3, "nondet", "\"os.time\"", ""),
           "while the checkpoint at position 2 is running");
    r = wire(&f, child_call(3, ",\"parent\":2,\"seq\":2"));
    ck_assert_msg(is_done(r), "%s", error_message(r));
    json_decref(r);
    r = wire(&f, runner_record(4, "nondet", "\"os.time\"", ",\"parent\":2,\"seq\":3"));
    ck_assert_msg(is_done(r), "%s", error_message(r));
    json_decref(r);
    /* The checkpoint's record closes it: its children cannot grow afterwards. */
    r = wire(&f, runner_record(5, "checkpoint", "null", ""));
    ck_assert_msg(is_done(r), "%s", error_message(r));
    json_decref(r);
    forged(&f, "tool.call", child_call(6, ",\"parent\":2,\"seq\":5"), "parent 2, seq 5");
    ck_assert_int_eq(tx_server_host_calls(f.s), 2);
    ck_assert_int_eq(tx_server_journal_count(f.s), 5);
    /* The broker wrote the children's host call records with their parent and number. */
    tx_error err;
    tx_error_clear(&err);
    json_t *rec = tx_journal_read(tx_server_journal(f.s), 3, &err);
    ck_assert_ptr_nonnull(rec);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "kind")), "host_call");
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "parent")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")), 2);
    json_decref(rec);
    run_teardown(&f);
}
END_TEST

/* Without a run directory the records live in the broker's memory: the journal limit bounds
 * them, and tripping it stops the run with status limit, whatever the runner reports. */
START_TEST(memory_journal_is_limited)
{
    fixture f;
    setup(&f, NULL);
    f.cfg.limits.allowed[TX_LIMIT_JOURNAL] = 4096;
    int refused = 0;
    for (int pos = 1; pos <= 100 && !refused; pos++) {
        json_t *params =
            json_pack("{s:{s:i, s:s, s:n, s:s, s:n, s:s, s:n, s:i, s:i}}", "record", "pos", pos,
                      "kind", "checkpoint", "name", "site", "x.tac:1", "args", "result",
                      "0123456789012345678901234567890123456789", "error", "t", 1, "ms", 0);
        json_t *r = call(&f, "journal.append", params);
        if (!is_done(r)) {
            refused = pos;
            ck_assert_str_eq(error_type(r), "JournalError");
            ck_assert_ptr_nonnull(strstr(error_message(r), "journal limit exceeded"));
        }
        json_decref(r);
    }
    ck_assert_int_gt(refused, 1);
    ck_assert_int_eq(tx_server_journal_count(f.s), refused - 1);
    json_t *r = call(&f, "tool.call", json_pack("{s:s}", "name", "host.ping"));
    ck_assert_ptr_nonnull(strstr(error_message(r), "the run was stopped"));
    json_decref(r);
    json_t *result = json_pack("{s:s, s:i}", "status", "ok", "output", 1);
    ck_assert_int_eq(tx_server_apply_limit(f.s, result), 1);
    ck_assert_str_eq(json_string_value(json_object_get(result, "status")), "limit");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(result, "error"), "limit")),
                     "journal");
    json_t *limits = json_object();
    tx_server_limits(f.s, limits);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(limits, "journal"), "allowed")), 4096);
    json_decref(limits);
    json_decref(result);
    teardown(&f);
}
END_TEST

/* A runner that only sends refused requests, or floods events, still fills the run directory:
 * the disk limit counts what they write and stops the run; after that nothing more is written. */
START_TEST(refusal_floods_hit_the_disk_limit)
{
    run_fixture f;
    run_setup(&f);
    f.cfg.limits.allowed[TX_LIMIT_DISK] = 8192;
    char path[160];
    snprintf(path, sizeof path, "%s/stream.jsonl", f.run);
    int stopped = 0;
    for (int i = 0; i < 1000 && !stopped; i++) {
        json_t *r = wire(&f, human_answer_forgery);
        stopped = strcmp(error_type(r), "JournalError") == 0;
        json_decref(r);
    }
    ck_assert_msg(stopped, "a flood of refusals never tripped the disk limit");
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_le(st.st_size, 8192 + 1024);
    off_t size = st.st_size;
    json_t *r = wire(&f, "{\"id\":9,\"method\":\"events.emit\",\"params\":{\"event\":{\"type\":"
                         "\"log\",\"level\":\"info\",\"message\":\"more\"}}}");
    ck_assert_str_eq(error_type(r), "JournalError");
    json_decref(r);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, size);
    json_t *result = json_pack("{s:s}", "status", "ok");
    ck_assert_int_eq(tx_server_apply_limit(f.s, result), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(result, "error"), "limit")),
                     "disk");
    json_decref(result);
    run_teardown(&f);
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
    tcase_add_test(tc, modules_never_block);
    tcase_add_test(tc, tool_call_cut_at_deadline);
    tcase_add_test(tc, tool_call_after_deadline);
    tcase_add_test(tc, runner_cannot_forge_journal_records);
    tcase_add_test(tc, runner_cannot_forge_human_answers);
    tcase_add_test(tc, runner_cannot_forge_idempotency_keys);
    tcase_add_test(tc, memory_journal_is_limited);
    tcase_add_test(tc, refusal_floods_hit_the_disk_limit);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(server_suite)
