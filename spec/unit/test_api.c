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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    suite_add_tcase(s, tc);
    return s;
}

TX_CHECK_MAIN(api_suite)
