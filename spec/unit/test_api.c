/*
 * test_api.c - the public embedding API: runs in every isolation mode, C tools on the host
 * side, events, limits, bad input, and two runtimes in two threads at once.
 *
 * TACTUS_EXE (set by meson) is the tactus binary child and sandboxed runs exec.
 */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include "check_main.h"
#include <jansson.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tactus.h"

static const char *exe(void)
{
    const char *e = getenv("TACTUS_EXE");
    return e ? e : "cli/tactus";
}

/* True when two JSON texts hold the same value (key order does not matter). */
static int same_json(const char *a, const char *b)
{
    json_t *x = json_loads(a, JSON_DECODE_ANY, NULL), *y = json_loads(b, JSON_DECODE_ANY, NULL);
    int eq = x != NULL && y != NULL && json_equal(x, y);
    json_decref(x);
    json_decref(y);
    return eq;
}

static int host_counter; /* touched by the C tool: proves it runs in this process */

static int count_tool(void *ud, const char *args_json, char **result_json, char **error_message)
{
    (void)ud;
    (void)args_json;
    (void)error_message;
    host_counter++;
    char buf[64];
    snprintf(buf, sizeof buf, "{\"count\": %d}", host_counter);
    *result_json = strdup(buf);
    return 0;
}

static int fail_tool(void *ud, const char *args_json, char **result_json, char **error_message)
{
    (void)ud;
    (void)args_json;
    (void)result_json;
    *error_message = strdup("tool refused");
    return -1;
}

static int events_seen;
static void on_event(void *ud, const char *event_json)
{
    (void)ud;
    if (strstr(event_json, "\"type\":\"log\"") != NULL)
        events_seen++;
}

static const char proc[] = "Procedure {\n"
                           "  input = { n = field.integer { required = true } },\n"
                           "  function(input)\n"
                           "    Log.info('go')\n"
                           "    local r = Host.call('count', {})\n"
                           "    return { doubled = input.n * 2, count = r.count }\n"
                           "  end,\n"
                           "}\n";

static void run_mode(tactus_isolation mode)
{
    tactus_runtime *rt = tactus_new();
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(tactus_set_runner(rt, exe()), TACTUS_OK);
    ck_assert_int_eq(tactus_set_isolation(rt, mode), TACTUS_OK);
    ck_assert_int_eq(tactus_register_tool(rt, "count", count_tool, NULL), TACTUS_OK);
    tactus_set_event_callback(rt, on_event, NULL);
    host_counter = 0;
    events_seen = 0;
    tactus_result *r = NULL;
    tactus_status st = tactus_run_string(rt, "p.tac", proc, strlen(proc), "{\"n\": 21}", &r);
    ck_assert_msg(r != NULL, "no result: %s", tactus_errmsg(rt));
    ck_assert_msg(st == TACTUS_OK, "status %s: %s", tactus_status_name(st),
                  tactus_result_error(r) ? tactus_result_error(r) : "");
    ck_assert_msg(same_json(tactus_result_output(r), "{\"doubled\":42,\"count\":1}"), "got %s",
                  tactus_result_output(r));
    ck_assert_int_eq(host_counter, 1); /* the tool ran here, not in a copy */
    ck_assert_int_eq(events_seen, 1);
    ck_assert_ptr_nonnull(strstr(tactus_result_json(r), "\"status\":\"ok\""));
    tactus_result_free(r);
    tactus_free(rt);
}

START_TEST(inprocess_run)
{
    run_mode(TACTUS_INPROCESS);
}
END_TEST

START_TEST(child_run_by_exec)
{
    run_mode(TACTUS_CHILD);
}
END_TEST

START_TEST(sandboxed_run_by_exec)
{
    run_mode(TACTUS_SANDBOX);
}
END_TEST

/* The deepest process under pid (following the last child found at each level), or pid. */
static pid_t deepest_descendant(pid_t pid)
{
    for (int depth = 0; depth < 8; depth++) {
        pid_t child = 0;
        DIR *d = opendir("/proc");
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            char path[300], buf[512];
            snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
            FILE *f = fopen(path, "r");
            if (f == NULL)
                continue;
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            const char *end = strrchr(buf, ')'); /* comm may hold spaces */
            int ppid = 0;
            char state;
            if (end != NULL && sscanf(end + 1, " %c %d", &state, &ppid) == 2 && ppid == pid &&
                state != 'Z')
                child = (pid_t)atoi(de->d_name);
        }
        if (d != NULL)
            closedir(d);
        if (child == 0)
            return pid;
        pid = child;
    }
    return pid;
}

/* The exec'd runner starts with an empty environment, so in a sanitizer build ASan would catch
 * a SIGSEGV and exit 1: SIGKILL there. */
#ifdef __SANITIZE_ADDRESS__
#define KILL_SIGNAL SIGKILL
#define KILL_TEXT "SIGKILL (signal 9)"
#else
#define KILL_SIGNAL SIGSEGV
#define KILL_TEXT "SIGSEGV (signal 11)"
#endif

/* A C tool that kills the runner (the deepest process below us) with SIGSEGV, as a crash or
 * another process would, then answers: the reply meets a dead runner. */
static int kill_runner_tool(void *ud, const char *args_json, char **result_json,
                            char **error_message)
{
    (void)ud;
    (void)args_json;
    (void)error_message;
    pid_t runner = deepest_descendant(getpid());
    if (runner != getpid())
        kill(runner, KILL_SIGNAL);
    for (int i = 0; i < 200 && kill(runner, 0) == 0 && deepest_descendant(getpid()) == runner; i++)
        usleep(10000); /* until it is gone (bounded) */
    *result_json = strdup("{}");
    return 0;
}

/* An exec'd runner (`tactus __runner`, plain or sandboxed) killed by a signal is reported by
 * that signal, not as a broken pipe or exit status 72 (issue 9). */
static void killed_runner(tactus_isolation mode)
{
    tactus_runtime *rt = tactus_new();
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(tactus_set_runner(rt, exe()), TACTUS_OK);
    ck_assert_int_eq(tactus_set_isolation(rt, mode), TACTUS_OK);
    ck_assert_int_eq(tactus_register_tool(rt, "kill_runner", kill_runner_tool, NULL), TACTUS_OK);
    const char *src = "Host.call('kill_runner', {}) return { survived = true }";
    tactus_result *r = NULL;
    tactus_status st = tactus_run_string(rt, "k.tac", src, strlen(src), NULL, &r);
    ck_assert_msg(r != NULL, "no result: %s", tactus_errmsg(rt));
    ck_assert_msg(st == TACTUS_ESYSTEM, "status %s", tactus_status_name(st));
    const char *msg = tactus_result_error(r);
    ck_assert_msg(msg != NULL && strstr(msg, KILL_TEXT) != NULL &&
                      strstr(msg, "broke the protocol") == NULL,
                  "got: %s", msg ? msg : "(no error)");
    tactus_result_free(r);
    tactus_free(rt);
}

START_TEST(killed_child_runner)
{
    killed_runner(TACTUS_CHILD);
}
END_TEST

START_TEST(killed_sandboxed_runner)
{
    killed_runner(TACTUS_SANDBOX);
}
END_TEST

START_TEST(errors_are_results)
{
    tactus_runtime *rt = tactus_new();
    tactus_result *r = NULL;
    ck_assert_int_eq(tactus_register_tool(rt, "nope", fail_tool, NULL), TACTUS_OK);
    const char *src = "return Host.call('nope', {})";
    ck_assert_int_eq(tactus_run_string(rt, "f.tac", src, strlen(src), NULL, &r), TACTUS_EPROC);
    ck_assert_ptr_nonnull(strstr(tactus_result_error(r), "tool refused"));
    ck_assert_ptr_null(tactus_result_output(r));
    tactus_result_free(r);
    /* Missing required input names the field. */
    ck_assert_int_eq(tactus_register_tool(rt, "count", count_tool, NULL), TACTUS_OK);
    ck_assert_int_eq(tactus_run_string(rt, "p.tac", proc, strlen(proc), "{}", &r), TACTUS_EPROC);
    ck_assert_ptr_nonnull(strstr(tactus_result_error(r), "missing required input: n"));
    tactus_result_free(r);
    tactus_free(rt);
}
END_TEST

START_TEST(bad_calls_fail_cleanly)
{
    tactus_runtime *rt = tactus_new();
    tactus_result *r = (tactus_result *)1;
    ck_assert_int_eq(tactus_set_limit(rt, "bogus", 1), TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "bogus"));
    ck_assert_int_eq(tactus_register_tool(rt, "bad name!", count_tool, NULL), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_register_tool(rt, "dup", count_tool, NULL), TACTUS_OK);
    ck_assert_int_eq(tactus_register_tool(rt, "dup", count_tool, NULL), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_run_string(rt, "x", "return 1", 8, "[1,2]", &r), TACTUS_EUSAGE);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(tactus_run_string(rt, "x", "return 1", 8, "{bad", &r), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_run_file(rt, "/nonexistent/x.tac", NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "/nonexistent/x.tac"));
    ck_assert_int_eq(tactus_set_isolation(rt, (tactus_isolation)42), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_load_config(rt, "/nonexistent.yml"), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_set_runner(rt, "/nonexistent/tactus"), TACTUS_OK);
    ck_assert_int_eq(tactus_set_isolation(rt, TACTUS_CHILD), TACTUS_OK);
    ck_assert_int_eq(tactus_run_string(rt, "x", "return 1", 8, NULL, &r), TACTUS_ESYSTEM);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "tactus_set_runner"));
    tactus_free(rt);
    tactus_free(NULL);
    tactus_result_free(NULL);
}
END_TEST

START_TEST(limits_apply)
{
    tactus_runtime *rt = tactus_new();
    tactus_result *r = NULL;
    ck_assert_int_eq(tactus_set_limit(rt, "instructions", 100000), TACTUS_OK);
    const char *spin = "while true do end";
    ck_assert_int_eq(tactus_run_string(rt, "s.tac", spin, strlen(spin), NULL, &r), TACTUS_ELIMIT);
    ck_assert_ptr_nonnull(strstr(tactus_result_json(r), "\"limit\":\"instructions\""));
    tactus_result_free(r);
    tactus_free(rt);
}
END_TEST

/* Custom allocator: counts what the runtime and its in-process VMs take. */
typedef struct counting {
    size_t live;
    size_t calls;
} counting;

static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    counting *c = ud;
    c->calls++;
    if (nsize == 0) {
        if (ptr != NULL)
            c->live -= osize;
        free(ptr);
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p != NULL)
        c->live = c->live - (ptr ? osize : 0) + nsize;
    return p;
}

START_TEST(allocator_hook)
{
    counting c = {0, 0};
    tactus_runtime *rt = tactus_new_with_alloc(counting_alloc, &c);
    ck_assert_ptr_nonnull(rt);
    tactus_result *r = NULL;
    const char *src = "local t = {} for i = 1, 1000 do t[i] = i end return { n = #t }";
    ck_assert_int_eq(tactus_run_string(rt, "a.tac", src, strlen(src), NULL, &r), TACTUS_OK);
    ck_assert_str_eq(tactus_result_output(r), "{\"n\":1000}");
    tactus_result_free(r);
    tactus_free(rt);
    ck_assert_uint_gt(c.calls, 100);
    ck_assert_uint_eq(c.live, 0);
}
END_TEST

static void *thread_run(void *arg)
{
    (void)arg;
    tactus_runtime *rt = tactus_new();
    tactus_set_runner(rt, exe());
    tactus_set_isolation(rt, TACTUS_CHILD);
    int ok = 1;
    for (int i = 0; i < 5 && ok; i++) {
        tactus_result *r = NULL;
        const char *src = "return { x = 1 }";
        ok = tactus_run_string(rt, "t.tac", src, strlen(src), NULL, &r) == TACTUS_OK &&
             strcmp(tactus_result_output(r), "{\"x\":1}") == 0;
        tactus_result_free(r);
    }
    tactus_free(rt);
    return ok ? arg : NULL;
}

START_TEST(threads_each_with_a_runtime)
{
    pthread_t a, b;
    int tag = 1;
    ck_assert_int_eq(pthread_create(&a, NULL, thread_run, &tag), 0);
    ck_assert_int_eq(pthread_create(&b, NULL, thread_run, &tag), 0);
    void *ra = NULL, *rb = NULL;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    ck_assert_ptr_nonnull(ra);
    ck_assert_ptr_nonnull(rb);
}
END_TEST

/* ---- suspended and interrupted runs ------------------------------------------------------ */

/* A scratch directory per test: TACTUS_HOME (the run key), the runs directory, the procedure. */
typedef struct scratch {
    char root[64], runs[128], proc[128];
} scratch;

static const char approval_proc[] =
    "Procedure {\n"
    "  function(input)\n"
    "    local r = Host.call('count', {})\n"
    "    local ok = Human.approve({ message = 'Ship ' .. input.what .. '?', default = false,\n"
    "                               options = { 'yes', 'no' } })\n"
    "    return { approved = ok, count = r.count }\n"
    "  end,\n"
    "}\n";

static void scratch_make(scratch *s, const char *source)
{
    snprintf(s->root, sizeof s->root, "/tmp/tx-api-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s->root));
    char home[96];
    snprintf(home, sizeof home, "%s/home", s->root);
    ck_assert_int_eq(setenv("TACTUS_HOME", home, 1), 0);
    snprintf(s->runs, sizeof s->runs, "%s/runs", s->root);
    snprintf(s->proc, sizeof s->proc, "%s/proc.tac", s->root);
    FILE *f = fopen(s->proc, "w");
    ck_assert_ptr_nonnull(f);
    fputs(source, f);
    fclose(f);
}

static void scratch_remove(const scratch *s)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->root);
    ck_assert_int_eq(system(cmd), 0);
}

/* A runtime for the scratch runs directory with the `count` tool. */
static tactus_runtime *resume_runtime(const scratch *s, tactus_isolation mode)
{
    tactus_runtime *rt = tactus_new();
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(tactus_set_runner(rt, exe()), TACTUS_OK);
    ck_assert_int_eq(tactus_set_isolation(rt, mode), TACTUS_OK);
    ck_assert_int_eq(tactus_set_runs_dir(rt, s->runs), TACTUS_OK);
    ck_assert_int_eq(tactus_register_tool(rt, "count", count_tool, NULL), TACTUS_OK);
    return rt;
}

/* Runs the approval procedure until it waits; returns its run id (malloc'd). */
static char *suspend_approval(tactus_runtime *rt, const scratch *s)
{
    tactus_result *r = NULL;
    host_counter = 0;
    tactus_status st = tactus_run_file(rt, s->proc, "{\"what\": \"v2\"}", &r);
    ck_assert_msg(r != NULL, "no result: %s", tactus_errmsg(rt));
    ck_assert_msg(st == TACTUS_SUSPENDED, "status %s: %s", tactus_status_name(st),
                  tactus_result_error(r) ? tactus_result_error(r) : "");
    ck_assert_int_eq(host_counter, 1);
    char *id = strdup(tactus_result_run_id(r));
    tactus_result_free(r);
    return id;
}

/* The content of <runs>/<id>/<name> (malloc'd), or NULL when it does not exist. */
static char *run_file(const scratch *s, const char *id, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", s->runs, id, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Every file of the run as a snapshot, to prove a refused call changed nothing. */
typedef struct run_snapshot {
    char *files[4];
} run_snapshot;

static const char *const run_files[4] = {"journal.jsonl", "result.json", "stream.jsonl",
                                         "run.json"};

static void snapshot_take(const scratch *s, const char *id, run_snapshot *snap)
{
    for (int i = 0; i < 4; i++)
        snap->files[i] = run_file(s, id, run_files[i]);
}

static void snapshot_check(const scratch *s, const char *id, run_snapshot *snap)
{
    for (int i = 0; i < 4; i++) {
        char *now = run_file(s, id, run_files[i]);
        ck_assert_msg((now == NULL) == (snap->files[i] == NULL) &&
                          (now == NULL || strcmp(now, snap->files[i]) == 0),
                      "%s changed", run_files[i]);
        free(now);
        free(snap->files[i]);
    }
}

static void resume_with_answer(tactus_isolation mode, tactus_answer_kind kind, const char *want)
{
    scratch s;
    scratch_make(&s, approval_proc);
    tactus_runtime *rt = resume_runtime(&s, mode);
    char *id = suspend_approval(rt, &s);

    tactus_question *q = NULL;
    ck_assert_msg(tactus_question_get(rt, id, &q) == TACTUS_OK, "%s", tactus_errmsg(rt));
    ck_assert_str_eq(tactus_question_kind(q), "approve");
    ck_assert_str_eq(tactus_question_message(q), "Ship v2?");
    ck_assert_str_eq(tactus_question_default(q), "false");
    ck_assert_str_eq(tactus_question_options(q), "[\"yes\",\"no\"]");
    ck_assert_str_eq(tactus_question_file(q), s.proc);
    ck_assert_int_eq(tactus_question_line(q), 4);
    ck_assert_str_eq(tactus_question_run_id(q), id);
    ck_assert_ptr_nonnull(strstr(tactus_question_json(q), "\"kind\":\"approve\""));
    tactus_question_free(q);

    tactus_result *r = NULL;
    tactus_status st = tactus_resume(rt, id, kind, NULL, &r);
    ck_assert_msg(r != NULL, "no result: %s", tactus_errmsg(rt));
    ck_assert_msg(st == TACTUS_OK, "status %s: %s", tactus_status_name(st),
                  tactus_result_error(r) ? tactus_result_error(r) : "");
    ck_assert_msg(same_json(tactus_result_output(r), want), "got %s", tactus_result_output(r));
    ck_assert_str_eq(tactus_result_run_id(r), id);
    ck_assert_int_eq(host_counter, 1); /* the step before the wait did not run again */
    tactus_result_free(r);

    /* Answered: nothing waits any more, and a second answer is refused. */
    ck_assert_int_eq(tactus_question_get(rt, id, &q), TACTUS_EUSAGE);
    ck_assert_ptr_null(q);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "not waiting for an answer"));
    free(id);
    tactus_free(rt);
    scratch_remove(&s);
}

START_TEST(resume_suspended_with_approve)
{
    resume_with_answer(TACTUS_CHILD, TACTUS_ANSWER_APPROVE, "{\"approved\":true,\"count\":1}");
}
END_TEST

START_TEST(resume_suspended_inprocess_with_reject)
{
    resume_with_answer(TACTUS_INPROCESS, TACTUS_ANSWER_REJECT, "{\"approved\":false,\"count\":1}");
}
END_TEST

START_TEST(resume_sandboxed_with_json_answer)
{
    scratch s;
    scratch_make(&s, approval_proc);
    tactus_runtime *rt = resume_runtime(&s, TACTUS_SANDBOX);
    char *id = suspend_approval(rt, &s);
    /* A runtime set to run in-process still resumes a sandboxed run in the sandbox. */
    ck_assert_int_eq(tactus_set_isolation(rt, TACTUS_INPROCESS), TACTUS_OK);
    tactus_result *r = NULL;
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_JSON, "true", &r), TACTUS_OK);
    ck_assert_ptr_nonnull(strstr(tactus_result_json(r), "\"isolation\":\"sandbox\""));
    ck_assert(same_json(tactus_result_output(r), "{\"approved\":true,\"count\":1}"));
    tactus_result_free(r);
    free(id);
    tactus_free(rt);
    scratch_remove(&s);
}
END_TEST

/* An answer that does not fit the question is refused and the run is left exactly as it was;
 * the right answer then still finishes it. */
START_TEST(resume_wrong_answer_kind_changes_nothing)
{
    scratch s;
    scratch_make(&s, approval_proc);
    tactus_runtime *rt = resume_runtime(&s, TACTUS_CHILD);
    char *id = suspend_approval(rt, &s);
    run_snapshot snap;
    snapshot_take(&s, id, &snap);
    tactus_result *r = (tactus_result *)1;
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_TEXT, "yes please", &r), TACTUS_EUSAGE);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(tactus_errmsg(rt), "waits for an approval") != NULL, "%s",
                  tactus_errmsg(rt));
    snapshot_check(&s, id, &snap);
    ck_assert_int_eq(host_counter, 1);
    /* Malformed answers are refused before the run is touched. */
    snapshot_take(&s, id, &snap);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_JSON, "{bad", &r), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_TEXT, NULL, &r), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, "x", &r), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_resume(rt, id, (tactus_answer_kind)9, NULL, &r), TACTUS_EUSAGE);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, NULL), TACTUS_EUSAGE);
    snapshot_check(&s, id, &snap);
    /* Without an answer it suspends again, at the same question. */
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_NONE, NULL, &r), TACTUS_SUSPENDED);
    tactus_result_free(r);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_OK);
    tactus_result_free(r);
    ck_assert_int_eq(host_counter, 1);
    free(id);
    tactus_free(rt);
    scratch_remove(&s);
}
END_TEST

/* Runs that cannot be resumed: each refused with TACTUS_EUSAGE and a message saying why, and
 * nothing in the run changes. */
START_TEST(resume_refuses_unknown_tampered_finished)
{
    scratch s;
    scratch_make(&s, approval_proc);
    tactus_runtime *rt = resume_runtime(&s, TACTUS_INPROCESS);
    tactus_result *r = (tactus_result *)1;
    tactus_question *q = (tactus_question *)1;

    ck_assert_int_eq(tactus_resume(rt, "no-such-run", TACTUS_ANSWER_NONE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_null(r);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "no run 'no-such-run'"));
    ck_assert_int_eq(tactus_question_get(rt, "no-such-run", &q), TACTUS_EUSAGE);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(tactus_resume(rt, "../escape", TACTUS_ANSWER_NONE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "..")); /* the path's last part: ".." */
    ck_assert_int_eq(tactus_resume(rt, "", TACTUS_ANSWER_NONE, NULL, &r), TACTUS_EUSAGE);

    /* Tampered: the input in run.json edited (the MAC no longer matches). */
    char *id = suspend_approval(rt, &s);
    char path[512];
    snprintf(path, sizeof path, "%s/%s/run.json", s.runs, id);
    json_t *rec = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(rec);
    json_object_set_new(json_object_get(rec, "input"), "what", json_string("evil"));
    ck_assert_int_eq(json_dump_file(rec, path, JSON_COMPACT), 0);
    json_decref(rec);
    run_snapshot snap;
    snapshot_take(&s, id, &snap);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_msg(strstr(tactus_errmsg(rt), "did not create it or it was changed") != NULL, "%s",
                  tactus_errmsg(rt));
    ck_assert_int_eq(tactus_question_get(rt, id, &q), TACTUS_EUSAGE);
    snapshot_check(&s, id, &snap);
    ck_assert_int_eq(host_counter, 1);
    free(id);

    /* Another host's run: sealed under another run key. */
    id = suspend_approval(rt, &s);
    char home[128];
    snprintf(home, sizeof home, "%s/other-home", s.root);
    ck_assert_int_eq(setenv("TACTUS_HOME", home, 1), 0);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_msg(strstr(tactus_errmsg(rt), "refusing run") != NULL, "%s", tactus_errmsg(rt));
    snprintf(home, sizeof home, "%s/home", s.root);
    ck_assert_int_eq(setenv("TACTUS_HOME", home, 1), 0);

    /* Finished: answered once, then every further resume is refused and changes nothing. */
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_OK);
    tactus_result_free(r);
    snapshot_take(&s, id, &snap);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_NONE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(tactus_errmsg(rt), "has finished (status ok)") != NULL, "%s",
                  tactus_errmsg(rt));
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_REJECT, NULL, &r), TACTUS_EUSAGE);
    snapshot_check(&s, id, &snap);
    free(id);

    /* A run of source text has no procedure file to run again, even when a file of that name
     * existed when it started and exists now. */
    ck_assert_int_eq(chdir(s.root), 0);
    FILE *f = fopen("named.tac", "w");
    ck_assert_ptr_nonnull(f);
    fputs("return { planted = true }", f);
    fclose(f);
    ck_assert_int_eq(tactus_run_string(rt, "named.tac", approval_proc, strlen(approval_proc),
                                       "{\"what\": \"x\"}", &r),
                     TACTUS_SUSPENDED);
    id = strdup(tactus_result_run_id(r));
    tactus_result_free(r);
    ck_assert_int_eq(unlink("named.tac"), 0);
    f = fopen("named.tac", "w");
    ck_assert_ptr_nonnull(f);
    fputs("return { planted = true }", f);
    fclose(f);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_msg(strstr(tactus_errmsg(rt), "not started from a procedure file") != NULL, "%s",
                  tactus_errmsg(rt));
    free(id);
    ck_assert_int_eq(chdir("/"), 0);

    /* Without a runs directory a run id names nothing; a path still works. */
    tactus_runtime *bare = tactus_new();
    ck_assert_int_eq(tactus_resume(bare, "some-run", TACTUS_ANSWER_NONE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(bare), "tactus_set_runs_dir"));
    tactus_free(bare);
    tactus_free(rt);
    scratch_remove(&s);
}
END_TEST

/* A run whose journal another process holds (a resume in progress) is refused, unchanged, in
 * process and before a child runner is started for it. */
static void locked_run(tactus_isolation mode)
{
    scratch s;
    scratch_make(&s, approval_proc);
    tactus_runtime *rt = resume_runtime(&s, mode);
    char *id = suspend_approval(rt, &s);
    char path[512];
    snprintf(path, sizeof path, "%s/%s/journal.jsonl", s.runs, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    run_snapshot snap;
    snapshot_take(&s, id, &snap);
    tactus_result *r = (tactus_result *)1;
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(tactus_errmsg(rt), "in use by another process") != NULL, "%s",
                  tactus_errmsg(rt));
    tactus_question *q = NULL;
    ck_assert_int_eq(tactus_question_get(rt, id, &q), TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "in use by another process"));
    snapshot_check(&s, id, &snap);
    close(fd);
    /* Released: the same call goes through, by the run directory's path this time. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", s.runs, id);
    ck_assert_int_eq(tactus_resume(rt, dir, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_OK);
    tactus_result_free(r);
    free(id);
    tactus_free(rt);
    scratch_remove(&s);
}

START_TEST(resume_refuses_locked_run)
{
    locked_run(TACTUS_INPROCESS);
    locked_run(TACTUS_CHILD);
    /* The refused child-mode resume started no runner: no child is left to reap. */
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

static int die_tool(void *ud, const char *args_json, char **result_json, char **error_message)
{
    (void)args_json;
    (void)error_message;
    if (ud != NULL)
        raise(SIGKILL); /* the host process is killed in the middle of the run */
    *result_json = strdup("{}");
    return 0;
}

static const char interrupted_proc[] = "Procedure {\n"
                                       "  function(input)\n"
                                       "    local a = Host.call('count', {})\n"
                                       "    local b = Host.call('count', {})\n"
                                       "    Host.call('die', {})\n"
                                       "    return { a = a.count, b = b.count }\n"
                                       "  end,\n"
                                       "}\n";

/* The only run under the runs directory (malloc'd id). */
static char *only_run(const scratch *s)
{
    DIR *d = opendir(s->runs);
    ck_assert_ptr_nonnull(d);
    char *id = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') {
            ck_assert_ptr_null(id);
            id = strdup(de->d_name);
        }
    closedir(d);
    ck_assert_ptr_nonnull(id);
    return id;
}

/* The host process dies mid-run; a resume without an answer continues the run from its
 * journal: the steps journaled before the kill are not done again. */
START_TEST(resume_interrupted_run_without_answer)
{
    scratch s;
    scratch_make(&s, interrupted_proc);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tactus_runtime *rt = resume_runtime(&s, TACTUS_CHILD);
        tactus_register_tool(rt, "die", die_tool, (void *)1);
        host_counter = 0;
        tactus_result *r = NULL;
        tactus_run_file(rt, s.proc, NULL, &r);
        _exit(3); /* not reached: the tool killed this process */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char *id = only_run(&s);
    char *result = run_file(&s, id, "result.json");
    ck_assert_ptr_null(result); /* interrupted: no result was written */

    tactus_runtime *rt = resume_runtime(&s, TACTUS_CHILD);
    ck_assert_int_eq(tactus_register_tool(rt, "die", die_tool, NULL), TACTUS_OK);
    tactus_question *q = NULL;
    ck_assert_int_eq(tactus_question_get(rt, id, &q), TACTUS_EUSAGE); /* it waits for nobody */
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &(tactus_result *){0}),
                     TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(tactus_errmsg(rt), "not waiting for an answer"));
    host_counter = 0;
    tactus_result *r = NULL;
    tactus_status st = tactus_resume(rt, id, TACTUS_ANSWER_NONE, NULL, &r);
    ck_assert_msg(r != NULL, "no result: %s", tactus_errmsg(rt));
    ck_assert_msg(st == TACTUS_OK, "status %s: %s", tactus_status_name(st),
                  tactus_result_error(r) ? tactus_result_error(r) : "");
    ck_assert(same_json(tactus_result_output(r), "{\"a\":1,\"b\":2}"));
    ck_assert_int_eq(host_counter, 0); /* both counts came from the journal */
    tactus_result_free(r);
    free(id);
    tactus_free(rt);
    scratch_remove(&s);
}
END_TEST

/* A FIFO planted as run.json (or as result.json of a real run) is refused at once: the call
 * must not block on it waiting for a writer. */
START_TEST(resume_refuses_planted_fifo)
{
    scratch s;
    scratch_make(&s, approval_proc);
    tactus_runtime *rt = resume_runtime(&s, TACTUS_INPROCESS);
    char path[512];
    snprintf(path, sizeof path, "%s/planted", s.runs);
    ck_assert_int_eq(mkdir(s.runs, 0700), 0);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/planted/run.json", s.runs);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    tactus_result *r = NULL;
    tactus_question *q = NULL;
    ck_assert_int_eq(tactus_resume(rt, "planted", TACTUS_ANSWER_NONE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_msg(strstr(tactus_errmsg(rt), "not a regular file") != NULL, "%s", tactus_errmsg(rt));
    ck_assert_int_eq(tactus_question_get(rt, "planted", &q), TACTUS_EUSAGE);
    char *id = suspend_approval(rt, &s);
    snprintf(path, sizeof path, "%s/%s/result.json", s.runs, id);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(tactus_resume(rt, id, TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(tactus_errmsg(rt), "not a regular file") != NULL, "%s", tactus_errmsg(rt));
    free(id);
    tactus_free(rt);
    scratch_remove(&s);
}
END_TEST

static const char policy_proc[] = "Procedure {\n"
                                  "  function(input)\n"
                                  "    local ok = Human.approve({ message = 'Go?' })\n"
                                  "    local n = 0\n"
                                  "    for i = 1, 200000 do n = n + 1 end\n"
                                  "    return { approved = ok, n = n }\n"
                                  "  end,\n"
                                  "}\n";

/* A run `tactus run --policy` started is resumed under that policy (its limits, not the
 * runtime's defaults), narrowed by a limit the runtime sets; a policy file that is gone since
 * is an error, not a run without it. */
START_TEST(resume_cli_run_with_policy)
{
    scratch s;
    scratch_make(&s, policy_proc);
    char policy[192], cmd[1024];
    snprintf(policy, sizeof policy, "%s/policy.yml", s.root);
    FILE *f = fopen(policy, "w");
    ck_assert_ptr_nonnull(f);
    fputs("sandbox:\n  limits: {instructions: 50000000}\n", f);
    fclose(f);
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && '%s' run proc.tac --policy policy.yml --run-dir '%s/p%d' --no-sandbox "
                 "--quiet >/dev/null 2>&1",
                 s.root, exe(), s.runs, i);
        int rc = system(cmd);
        ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 5, "tactus run: %d", rc);
    }
    tactus_runtime *rt = resume_runtime(&s, TACTUS_INPROCESS);
    tactus_result *r = NULL;
    ck_assert_int_eq(tactus_resume(rt, "p0", TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_OK);
    ck_assert_ptr_nonnull(strstr(tactus_result_json(r), "\"allowed\":50000000"));
    ck_assert_ptr_nonnull(strstr(tactus_result_json(r), "\"isolation\":\"child\""));
    ck_assert(same_json(tactus_result_output(r), "{\"approved\":true,\"n\":200000}"));
    tactus_result_free(r);
    ck_assert_int_eq(tactus_set_limit(rt, "instructions", 100000), TACTUS_OK);
    ck_assert_int_eq(tactus_resume(rt, "p1", TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_ELIMIT);
    tactus_result_free(r);
    ck_assert_int_eq(unlink(policy), 0);
    ck_assert_int_eq(tactus_resume(rt, "p2", TACTUS_ANSWER_APPROVE, NULL, &r), TACTUS_EUSAGE);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(tactus_errmsg(rt), "the run's policy") != NULL, "%s", tactus_errmsg(rt));
    tactus_free(rt);
    scratch_remove(&s);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, inprocess_run);
    tcase_add_test(tc, child_run_by_exec);
    tcase_add_test(tc, sandboxed_run_by_exec);
    tcase_add_test(tc, errors_are_results);
    tcase_add_test(tc, killed_child_runner);
    tcase_add_test(tc, killed_sandboxed_runner);
    tcase_add_test(tc, bad_calls_fail_cleanly);
    tcase_add_test(tc, limits_apply);
    tcase_add_test(tc, allocator_hook);
    tcase_add_test(tc, threads_each_with_a_runtime);
    tcase_add_test(tc, resume_suspended_with_approve);
    tcase_add_test(tc, resume_suspended_inprocess_with_reject);
    tcase_add_test(tc, resume_sandboxed_with_json_answer);
    tcase_add_test(tc, resume_wrong_answer_kind_changes_nothing);
    tcase_add_test(tc, resume_refuses_unknown_tampered_finished);
    tcase_add_test(tc, resume_refuses_locked_run);
    tcase_add_test(tc, resume_interrupted_run_without_answer);
    tcase_add_test(tc, resume_cli_run_with_policy);
    tcase_add_test(tc, resume_refuses_planted_fifo);
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(api_suite)
