/* test_hosttools.c - unit tests for broker/hosttools.c (command host tools run by the broker).
 *
 * Each test writes small /bin/sh tools into a fresh mkdtemp directory (also the "procedure
 * directory") and runs them through tx_hosttool_run. Tests that check that nothing survives
 * a call make the test process a child subreaper, so killed orphans are reaped here and
 * kill(-pgid, 0) really reaches ESRCH (this machine's pid 1 may not reap). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hosttools.h"

/* The per-test scratch directory (each Check test runs in its own process). */
static char scratch[PATH_MAX];

/* A tool definition whose strings live in the struct. */
typedef struct tool {
    tx_host_tool t;
    char *argv[8];
    char *secrets[4];
    char script[PATH_MAX];
} tool;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void setup(void)
{
    char tmpl[] = "/tmp/tx-hosttools-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    ck_assert_ptr_nonnull(realpath(tmpl, scratch));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Fills x with a tool named `name`, timeout_ms, max_output 1 MiB and a NULL-terminated argv. */
static void tool_init(tool *x, const char *name, uint64_t timeout_ms, ...)
{
    memset(x, 0, sizeof *x);
    va_list ap;
    va_start(ap, timeout_ms);
    size_t n = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 7)
        x->argv[n++] = (char *)a;
    va_end(ap);
    x->t.name = (char *)name;
    x->t.argv = x->argv;
    x->t.argc = n;
    x->t.timeout_ms = timeout_ms;
    x->t.max_output = 1u << 20;
}

/* Writes an executable /bin/sh script `name` into the scratch dir, with D set to that dir, and
 * makes x run it. */
static void script_tool(tool *x, const char *name, uint64_t timeout_ms, const char *body)
{
    char path[sizeof x->script];
    ck_assert_int_lt(snprintf(path, sizeof path, "%s/%s.sh", scratch, name), (int)sizeof path);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\nD='%s'\n%s\n", scratch, body);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, 0755), 0);
    tool_init(x, name, timeout_ms, NULL);
    memcpy(x->script, path, sizeof path);
    x->argv[0] = x->script;
    x->t.argc = 1;
}

/* Runs x with args and secrets; asserts the call itself worked (rc 0). */
static void run_with(tool *x, const char *args, size_t args_len, const tx_tool_secret *sec,
                     size_t nsec, tx_hosttool_result *res)
{
    tx_hosttool_call c = {.tool = &x->t,
                          .proc_dir = scratch,
                          .args_json = args,
                          .args_len = args_len,
                          .run_id = "run-1",
                          .idempotency_key = "run-1:7",
                          .secrets = sec,
                          .nsecrets = nsec};
    tx_error err;
    tx_error_clear(&err);
    int rc = tx_hosttool_run(&c, res, &err);
    ck_assert_msg(rc == 0, "tx_hosttool_run failed: %s", err.message);
}

static void run(tool *x, const char *args, tx_hosttool_result *res)
{
    run_with(x, args, strlen(args), NULL, 0, res);
}

/* Asserts the call failed with `type` and a message starting with `prefix`. */
static void expect_error(const tx_hosttool_result *res, const char *type, const char *prefix)
{
    ck_assert_ptr_null(res->result);
    ck_assert_str_eq(res->error_type, type);
    ck_assert_msg(strncmp(res->error, prefix, strlen(prefix)) == 0,
                  "error '%s' does not start with '%s'", res->error, prefix);
    json_t *s = json_string(res->error); /* NULL if not valid UTF-8 */
    ck_assert_ptr_nonnull(s);
    json_decref(s);
}

/* Reads a scratch file into a malloc'd buffer; *len gets its size. */
static char *slurp(const char *name, size_t *len)
{
    char path[PATH_MAX];
    ck_assert_int_lt(snprintf(path, sizeof path, "%s/%s", scratch, name), (int)sizeof path);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Reads a pid the tool wrote into a scratch file. */
static pid_t read_pid(const char *name)
{
    size_t len;
    char *s = slurp(name, &len);
    pid_t pid = (pid_t)atoi(s);
    free(s);
    ck_assert_int_gt(pid, 1);
    return pid;
}

/* True once kill(target, 0) says ESRCH (target < 0: a process group), reaping orphans that
 * were handed to us as subreaper; gives up after ms. */
static int gone_within(pid_t target, int ms)
{
    double until = now_ms() + ms;
    while (now_ms() < until) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (kill(target, 0) < 0 && errno == ESRCH)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The tool's environment as saved by `cat /proc/$$/environ > $D/env.bin`: a JSON object. */
static json_t *saved_env(void)
{
    size_t len;
    char *buf = slurp("env.bin", &len);
    json_t *env = json_object();
    for (size_t i = 0; i < len;) {
        char *entry = buf + i;
        size_t n = strlen(entry);
        char *eq = strchr(entry, '=');
        ck_assert_ptr_nonnull(eq);
        *eq = '\0';
        ck_assert_msg(json_object_get(env, entry) == NULL, "duplicate variable %s", entry);
        json_object_set_new(env, entry, json_string(eq + 1));
        i += n + 1;
    }
    free(buf);
    return env;
}

#define ENV_TOOL "cat /proc/$$/environ > \"$D/env.bin\"; echo '{}'"

START_TEST(test_echo_args)
{
    tool x;
    script_tool(&x, "t.echo", 5000, "exec cat");
    const char *args = "{\"a\": [1, 2, {\"b\": null}], \"s\": \"h\\u00e9llo\"}";
    tx_hosttool_result res;
    run(&x, args, &res);
    ck_assert_msg(res.result != NULL, "%s: %s", res.error_type, res.error);
    json_t *want = json_loads(args, 0, NULL);
    ck_assert(json_equal(res.result, want));
    ck_assert_str_eq(res.error_type, "");
    ck_assert_int_eq(res.exit_code, 0);
    ck_assert(res.duration_ms > 0);
    json_decref(want);
    json_decref(res.result);

    /* Any JSON value is a result, not only objects. */
    script_tool(&x, "t.scalar", 5000, "echo ' 42 '");
    run(&x, "{}", &res);
    ck_assert_ptr_nonnull(res.result);
    ck_assert_int_eq(json_integer_value(res.result), 42);
    json_decref(res.result);
}
END_TEST

START_TEST(test_env_exact)
{
    ck_assert_int_eq(setenv("TX_TEST_SENTINEL", "must-not-leak", 1), 0);
    ck_assert_int_eq(setenv("HOME", "/tmp/tx-home-sentinel", 1), 0);
    ck_assert_int_eq(setenv("PATH", "/tx/bogus:/usr/bin:/bin", 1), 0);
    ck_assert_int_eq(setenv("LD_PRELOAD", "", 1), 0);
    tool x;
    script_tool(&x, "t.env", 5000, ENV_TOOL);
    tx_hosttool_result res;
    run(&x, "{}", &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    json_decref(res.result);

    json_t *env = saved_env();
    json_t *want =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "PATH", "/usr/local/bin:/usr/bin:/bin", "LANG",
                  "C.UTF-8", "HOME", "/tmp/tx-home-sentinel", "TACTUS_RUN_ID", "run-1",
                  "TACTUS_TOOL", "t.env", "TACTUS_IDEMPOTENCY_KEY", "run-1:7");
    char *got = json_dumps(env, JSON_SORT_KEYS);
    ck_assert_msg(json_equal(env, want), "tool environment was %s", got);
    free(got);
    json_decref(env);
    json_decref(want);

    /* Without HOME in the broker's environment the tool gets none (not a made-up one). */
    ck_assert_int_eq(unsetenv("HOME"), 0);
    run(&x, "{}", &res);
    ck_assert_ptr_nonnull(res.result);
    json_decref(res.result);
    env = saved_env();
    ck_assert_ptr_null(json_object_get(env, "HOME"));
    ck_assert_ptr_null(json_object_get(env, "TX_TEST_SENTINEL"));
    ck_assert_uint_eq(json_object_size(env), 5);
    json_decref(env);
}
END_TEST

START_TEST(test_secrets)
{
    ck_assert_int_eq(setenv("HOME", "/tmp/tx-home", 1), 0);
    tool x;
    script_tool(&x, "t.secret", 5000, ENV_TOOL);
    x.secrets[0] = "API_TOKEN";
    x.secrets[1] = "OTHER_KEY";
    x.t.secrets = x.secrets;
    x.t.nsecrets = 2;
    static const char v1[] = "s3cr3t value=with spaces\nand newline";
    tx_tool_secret sec[2] = {{"OTHER_KEY", (const unsigned char *)"k2", 2},
                             {"API_TOKEN", (const unsigned char *)v1, sizeof v1 - 1}};
    tx_hosttool_result res;
    run_with(&x, "{}", 2, sec, 2, &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    json_decref(res.result);
    json_t *env = saved_env();
    ck_assert_str_eq(json_string_value(json_object_get(env, "API_TOKEN")), v1);
    ck_assert_str_eq(json_string_value(json_object_get(env, "OTHER_KEY")), "k2");
    ck_assert_uint_eq(json_object_size(env), 8); /* the 6 fixed ones + 2 */
    json_decref(env);

    /* The same script declared without secrets: nothing of them reaches it. */
    tool y;
    script_tool(&y, "t.nosecret", 5000, ENV_TOOL);
    run(&y, "{}", &res);
    ck_assert_ptr_nonnull(res.result);
    json_decref(res.result);
    env = saved_env();
    ck_assert_ptr_null(json_object_get(env, "API_TOKEN"));
    ck_assert_ptr_null(json_object_get(env, "OTHER_KEY"));
    json_decref(env);
}
END_TEST

/* Runs a call expected to be refused before anything starts. */
static void expect_refused(tool *x, const tx_tool_secret *sec, size_t n, const char *needle)
{
    tx_hosttool_call c = {.tool = &x->t,
                          .proc_dir = scratch,
                          .args_json = "{}",
                          .args_len = 2,
                          .run_id = "r",
                          .idempotency_key = "r:1",
                          .secrets = sec,
                          .nsecrets = n};
    tx_hosttool_result res;
    tx_error err;
    tx_error_clear(&err);
    ck_assert_int_eq(tx_hosttool_run(&c, &res, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_msg(strstr(err.message, needle) != NULL, "'%s' lacks '%s'", err.message, needle);
    ck_assert_ptr_null(res.result);
}

START_TEST(test_bad_calls)
{
    tool x;
    script_tool(&x, "t.bad", 5000, ENV_TOOL);
    x.secrets[0] = "API_TOKEN";
    x.t.secrets = x.secrets;
    x.t.nsecrets = 1;
    tx_tool_secret ok = {"API_TOKEN", (const unsigned char *)"v", 1};
    tx_tool_secret other = {"NOT_NAMED", (const unsigned char *)"v", 1};
    tx_tool_secret nul = {"API_TOKEN", (const unsigned char *)"a\0b", 3};
    tx_tool_secret twice[2] = {ok, ok};
    expect_refused(&x, NULL, 0, "0 secrets given, the tool names 1");
    expect_refused(&x, &other, 1, "NOT_NAMED is not one the tool names");
    expect_refused(&x, &nul, 1, "NUL byte");
    x.secrets[1] = "API_TOKEN";
    x.t.nsecrets = 2;
    expect_refused(&x, twice, 2, "given more than once");

    x.secrets[0] = "PATH";
    x.t.nsecrets = 1;
    tx_tool_secret path = {"PATH", (const unsigned char *)"/evil", 5};
    expect_refused(&x, &path, 1, "cannot be an environment variable name");
    x.secrets[0] = "TACTUS_RUN_ID";
    tx_tool_secret rid = {"TACTUS_RUN_ID", (const unsigned char *)"x", 1};
    expect_refused(&x, &rid, 1, "cannot be an environment variable name");
    x.secrets[0] = "A=B";
    tx_tool_secret eq = {"A=B", (const unsigned char *)"x", 1};
    expect_refused(&x, &eq, 1, "cannot be an environment variable name");
    x.t.nsecrets = 0;

    x.t.timeout_ms = 0;
    expect_refused(&x, NULL, 0, "timeout");
    x.t.timeout_ms = 1000;
    x.t.max_output = 0;
    expect_refused(&x, NULL, 0, "max_output");
    x.t.max_output = 1000;
    x.t.sandboxed = 1;
    expect_refused(&x, NULL, 0, "sandbox");
    x.t.sandboxed = 0;
    x.argv[0] = "";
    expect_refused(&x, NULL, 0, "empty command");

    tx_hosttool_result res;
    tx_error err;
    tx_error_clear(&err);
    ck_assert_int_eq(tx_hosttool_run(NULL, &res, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
}
END_TEST

START_TEST(test_idempotency_key)
{
    tool x;
    script_tool(&x, "t.key", 5000,
                "printf '{\"key\":\"%s\",\"run\":\"%s\",\"tool\":\"%s\"}' "
                "\"$TACTUS_IDEMPOTENCY_KEY\" \"$TACTUS_RUN_ID\" \"$TACTUS_TOOL\"");
    tx_hosttool_call c = {.tool = &x.t,
                          .proc_dir = scratch,
                          .args_json = "{}",
                          .args_len = 2,
                          .run_id = "2024-abc",
                          .idempotency_key = "2024-abc:42"};
    tx_hosttool_result res;
    tx_error err;
    ck_assert_int_eq(tx_hosttool_run(&c, &res, &err), 0);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_str_eq(json_string_value(json_object_get(res.result, "key")), "2024-abc:42");
    ck_assert_str_eq(json_string_value(json_object_get(res.result, "run")), "2024-abc");
    ck_assert_str_eq(json_string_value(json_object_get(res.result, "tool")), "t.key");
    json_decref(res.result);
}
END_TEST

START_TEST(test_bad_output)
{
    tool x;
    tx_hosttool_result res;
    script_tool(&x, "t.text", 5000, "echo hello world");
    run(&x, "{}", &res);
    expect_error(&res, "ToolBadOutput", "tool t.text printed invalid JSON: ");
    ck_assert_int_eq(res.exit_code, 0);

    script_tool(&x, "t.trailing", 5000, "echo '{\"a\":1} {\"b\":2}'; echo oops >&2");
    run(&x, "{}", &res);
    expect_error(&res, "ToolBadOutput", "tool t.trailing printed invalid JSON: ");
    ck_assert_msg(strstr(res.error, "oops") != NULL, "stderr missing: %s", res.error);

    /* Hostile bytes in the output are not copied raw into the message. */
    script_tool(&x, "t.binary", 5000, "printf '\\033[31m\\377\\376'");
    run(&x, "{}", &res);
    expect_error(&res, "ToolBadOutput", "tool t.binary printed invalid JSON");
    ck_assert_ptr_null(strchr(res.error, '\033'));

    script_tool(&x, "t.empty", 5000, "exit 0");
    run(&x, "{}", &res);
    expect_error(&res, "ToolBadOutput", "tool t.empty printed no JSON");
    ck_assert_str_eq(res.error, "tool t.empty printed no JSON");

    script_tool(&x, "t.blank", 5000, "printf '  \\n\\t\\n'");
    run(&x, "{}", &res);
    expect_error(&res, "ToolBadOutput", "tool t.blank printed no JSON");

    script_tool(&x, "t.nul", 5000, "printf '\\000\\000'");
    run(&x, "{}", &res);
    expect_error(&res, "ToolBadOutput", "tool t.nul printed invalid JSON");
}
END_TEST

START_TEST(test_exit_status)
{
    tool x;
    tx_hosttool_result res;
    script_tool(&x, "t.fail", 5000, "echo 'noise'; echo 'boom: disk on fire' >&2; exit 3");
    run(&x, "{}", &res);
    expect_error(&res, "ToolFailed", "tool t.fail exited with status 3: boom: disk on fire");
    ck_assert_str_eq(res.error, "tool t.fail exited with status 3: boom: disk on fire");
    ck_assert_int_eq(res.exit_code, 3);

    /* Valid JSON does not make a failing exit a success. */
    script_tool(&x, "t.fail2", 5000, "echo '{}'; exit 1");
    run(&x, "{}", &res);
    expect_error(&res, "ToolFailed", "tool t.fail2 exited with status 1");
    ck_assert_str_eq(res.error, "tool t.fail2 exited with status 1");

    script_tool(&x, "t.signal", 5000, "echo dying >&2; kill -SEGV $$");
    run(&x, "{}", &res);
    expect_error(&res, "ToolFailed", "tool t.signal was killed by signal 11 (SIGSEGV): dying");
    ck_assert_int_eq(res.exit_code, -1);

    /* Megabytes of stderr: no hang, the message keeps only the end, cut to fit, valid UTF-8,
     * control characters and bad bytes replaced. */
    script_tool(&x, "t.noisy", 10000,
                "yes 'some long stderr line' | head -c 3000000 >&2\n"
                "printf '\\303\\251t\\303\\251 \\377\\001end\\n' >&2; exit 4");
    run(&x, "{}", &res);
    expect_error(&res, "ToolFailed", "tool t.noisy exited with status 4: ...");
    size_t n = strlen(res.error);
    ck_assert_uint_lt(n, sizeof res.error);
    ck_assert_uint_le(n, 40 + 1024);
    const char *end = "\xc3\xa9t\xc3\xa9 ??end";
    ck_assert_str_eq(res.error + n - strlen(end), end);
}
END_TEST

START_TEST(test_timeout)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    tool x;
    script_tool(&x, "t.slow", 200, "echo $$ > \"$D/pid\"; echo started >&2; sleep 10; echo '{}'");
    tx_hosttool_result res;
    double t0 = now_ms();
    run(&x, "{}", &res);
    double took = now_ms() - t0;
    expect_error(&res, "ToolTimeout", "tool t.slow timed out after 200 ms");
    ck_assert_int_eq(res.exit_code, -1);
    ck_assert_msg(took >= 190 && took < 2000, "took %.0f ms", took);
    ck_assert(res.duration_ms >= 190);
    pid_t pgid = read_pid("pid");
    ck_assert_msg(gone_within(-pgid, 3000), "process group %d survived the timeout", pgid);
}
END_TEST

START_TEST(test_output_too_large)
{
    tool x;
    tx_hosttool_result res;
    tool_init(&x, "t.big", 20000, "/bin/sh", "-c", "yes | head -c 10M", NULL);
    x.t.max_output = 1024;
    double t0 = now_ms();
    run(&x, "{}", &res);
    ck_assert_msg(now_ms() - t0 < 5000, "took %.0f ms", now_ms() - t0);
    expect_error(&res, "ToolOutputTooLarge",
                 "tool t.big printed more than 1024 bytes on stdout (max_output)");
    ck_assert_int_eq(res.exit_code, -1);

    /* Exactly max_output bytes is fine, one more is not. */
    tool_init(&x, "t.exact", 5000, "/bin/sh", "-c", "printf '\"%0998d\"' 0", NULL);
    x.t.max_output = 1000;
    run(&x, "{}", &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_uint_eq(json_string_length(res.result), 998);
    json_decref(res.result);
    x.t.max_output = 999;
    run(&x, "{}", &res);
    expect_error(&res, "ToolOutputTooLarge", "tool t.exact printed more than 999 bytes");
}
END_TEST

/* 1 MiB of JSON: {"blob":"xxx..."}. */
static char *big_args(size_t *len)
{
    size_t n = 1u << 20;
    char *s = malloc(n + 32);
    ck_assert_ptr_nonnull(s);
    int h = sprintf(s, "{\"blob\":\"");
    memset(s + h, 'x', n);
    strcpy(s + h + n, "\"}");
    *len = strlen(s);
    return s;
}

START_TEST(test_stdin_not_read)
{
    size_t len;
    char *args = big_args(&len);
    tool x;
    tx_hosttool_result res;
    sigset_t before, after;
    ck_assert_int_eq(sigprocmask(SIG_SETMASK, NULL, &before), 0);

    /* Exits without reading: we get EPIPE and must neither die of SIGPIPE nor hang. */
    script_tool(&x, "t.noread", 5000, "echo '{\"ok\":true}'");
    double t0 = now_ms();
    run_with(&x, args, len, NULL, 0, &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    json_decref(res.result);

    /* Closes stdin at once and keeps running. */
    script_tool(&x, "t.closein", 5000, "exec 0<&-; sleep 0.3; echo '{\"ok\":1}'");
    run_with(&x, args, len, NULL, 0, &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    json_decref(res.result);

    /* Leaves stdin open and unread while it works. */
    script_tool(&x, "t.ignorein", 5000, "sleep 0.3; echo '{\"ok\":2}'");
    run_with(&x, args, len, NULL, 0, &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    json_decref(res.result);
    ck_assert_msg(now_ms() - t0 < 4000, "took %.0f ms", now_ms() - t0);

    /* Our signal state is exactly as before: SIGPIPE default, not pending, mask unchanged. */
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
    sigset_t pending;
    ck_assert_int_eq(sigpending(&pending), 0);
    ck_assert(!sigismember(&pending, SIGPIPE));
    ck_assert_int_eq(sigprocmask(SIG_SETMASK, NULL, &after), 0);
    for (int s = 1; s < NSIG; s++)
        ck_assert_int_eq(sigismember(&before, s), sigismember(&after, s));
    free(args);
}
END_TEST

START_TEST(test_output_before_input)
{
    /* Prints 300 KB (more than a pipe holds) before reading 1 MiB of stdin: both directions
     * must flow at once. */
    size_t len;
    char *args = big_args(&len);
    tool x;
    script_tool(&x, "t.chatty", 10000, "head -c 300000 /dev/zero | tr '\\000' ' '; exec cat");
    x.t.max_output = 4u << 20;
    tx_hosttool_result res;
    run_with(&x, args, len, NULL, 0, &res);
    ck_assert_msg(res.result != NULL, "%s: %s", res.error_type, res.error);
    ck_assert_uint_eq(json_string_length(json_object_get(res.result, "blob")), 1u << 20);
    json_decref(res.result);
    free(args);
}
END_TEST

START_TEST(test_grandchild_killed)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    tool x;
    /* The background sleep keeps stdout open: the call must end when the tool exits anyway. */
    script_tool(&x, "t.bg", 10000,
                "sleep 100 & echo $! > \"$D/gc\"; echo $$ > \"$D/pid\"; echo '{\"bg\":true}'");
    tx_hosttool_result res;
    double t0 = now_ms();
    run(&x, "{}", &res);
    ck_assert_msg(now_ms() - t0 < 3000, "took %.0f ms", now_ms() - t0);
    ck_assert_msg(res.result != NULL, "%s: %s", res.error_type, res.error);
    ck_assert(json_is_true(json_object_get(res.result, "bg")));
    json_decref(res.result);
    pid_t gc = read_pid("gc"), pgid = read_pid("pid");
    ck_assert_msg(gone_within(gc, 3000), "background process %d survived", gc);
    ck_assert_msg(gone_within(-pgid, 3000), "process group %d survived", pgid);
}
END_TEST

START_TEST(test_not_found)
{
    tool x;
    tx_hosttool_result res;
    tool_init(&x, "t.missing", 5000, "tactus-no-such-tool-xyz", NULL);
    run(&x, "{}", &res);
    expect_error(&res, "ToolNotFound",
                 "tool t.missing: command 'tactus-no-such-tool-xyz' not found in "
                 "/usr/local/bin:/usr/bin:/bin");
    ck_assert_int_eq(res.exit_code, -1);

    /* The broker's own PATH is not used to find commands. */
    script_tool(&x, "probe", 5000, "echo '{}'");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", scratch);
    ck_assert_int_eq(setenv("PATH", path, 1), 0);
    tool_init(&x, "t.probe", 5000, "probe.sh", NULL);
    run(&x, "{}", &res);
    expect_error(&res, "ToolNotFound", "tool t.probe: command 'probe.sh' not found");

    /* A file that is not executable, and one that is not a program. */
    char file[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/plain", scratch);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("echo '{}'\n", f);
    fclose(f);
    tool_init(&x, "t.plain", 5000, file, NULL);
    run(&x, "{}", &res);
    expect_error(&res, "ToolNotFound", "tool t.plain: cannot run '");
    ck_assert_ptr_nonnull(strstr(res.error, "Permission denied"));
    ck_assert_int_eq(chmod(file, 0755), 0);
    run(&x, "{}", &res); /* no #! line: execve says ENOEXEC and there is no shell fallback */
    expect_error(&res, "ToolNotFound", "tool t.plain: cannot run '");
    ck_assert_ptr_nonnull(strstr(res.error, "Exec format error"));
}
END_TEST

START_TEST(test_cwd)
{
    tool x;
    tx_hosttool_result res;
    char sub[PATH_MAX + 8];
    snprintf(sub, sizeof sub, "%s/sub", scratch);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    script_tool(&x, "t.pwd", 5000, "printf '\"%s\"' \"$(pwd -P)\"");

    run(&x, "{}", &res); /* default: the procedure directory */
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_str_eq(json_string_value(res.result), scratch);
    json_decref(res.result);

    x.t.cwd = "sub"; /* relative: against the procedure directory */
    run(&x, "{}", &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_str_eq(json_string_value(res.result), sub);
    json_decref(res.result);

    x.t.cwd = "/"; /* absolute */
    run(&x, "{}", &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_str_eq(json_string_value(res.result), "/");
    json_decref(res.result);

    x.t.cwd = "nope";
    run(&x, "{}", &res);
    expect_error(&res, "ToolFailed", "tool t.pwd: cannot use working directory '");
    ck_assert_ptr_nonnull(strstr(res.error, "/nope': No such file or directory"));

    /* A command with a '/' is relative to the tool's cwd, not the broker's. */
    char inner[PATH_MAX + 16];
    snprintf(inner, sizeof inner, "%s/run.sh", sub);
    FILE *f = fopen(inner, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#!/bin/sh\necho '\"inner\"'\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(inner, 0755), 0);
    tool_init(&x, "t.rel", 5000, "./run.sh", NULL);
    x.t.cwd = "sub";
    run(&x, "{}", &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_str_eq(json_string_value(res.result), "inner");
    json_decref(res.result);
}
END_TEST

START_TEST(test_no_fd_leak_into_tool)
{
    int fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, 57), 57);
    tool x;
    /* ls opens /proc/self/fd as its lowest free descriptor: 3 unless something leaked. */
    tool_init(&x, "t.fds", 5000, "/bin/sh", "-c",
              "printf '\"%s\"' \"$(ls /proc/self/fd | tr '\\n' ' ')\"", NULL);
    tx_hosttool_result res;
    run(&x, "{}", &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_str_eq(json_string_value(res.result), "0 1 2 3 ");
    json_decref(res.result);
    close(57);
    close(fd);
}
END_TEST

START_TEST(test_signals_reset_in_tool)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);
    signal(SIGINT, SIG_IGN);
    tool x;
    script_tool(&x, "t.sig", 5000,
                "printf '{\"blk\":\"%s\",\"ign\":\"%s\"}' "
                "\"$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)\" "
                "\"$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)\"");
    tx_hosttool_result res;
    run(&x, "{}", &res);
    ck_assert_msg(res.result != NULL, "%s", res.error);
    ck_assert_str_eq(json_string_value(json_object_get(res.result, "blk")), "0000000000000000");
    ck_assert_str_eq(json_string_value(json_object_get(res.result, "ign")), "0000000000000000");
    json_decref(res.result);
}
END_TEST

START_TEST(test_no_parent_fd_leak)
{
    tool ok, bad, missing, slow;
    script_tool(&ok, "t.ok", 5000, "exec cat");
    script_tool(&bad, "t.badout", 5000, "echo nope; exit 2");
    tool_init(&missing, "t.none", 5000, "tactus-no-such-tool-xyz", NULL);
    script_tool(&slow, "t.slow", 50, "sleep 5");
    tx_hosttool_result res;
    run(&ok, "{\"warm\":1}", &res); /* let libraries open what they keep open */
    json_decref(res.result);
    int before = count_fds();
    for (int i = 0; i < 100; i++) {
        tool *x = i % 4 == 0 ? &ok : i % 4 == 1 ? &bad : i % 4 == 2 ? &missing : &ok;
        run(x, "{\"i\":1}", &res);
        json_decref(res.result);
    }
    for (int i = 0; i < 3; i++) {
        run(&slow, "{}", &res);
        ck_assert_str_eq(res.error_type, "ToolTimeout");
    }
    ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* Runs x with "{}" and the given deadline / adopt_orphans; asserts the call itself worked. */
static void run_bounded(tool *x, double deadline_ms, int adopt, tx_hosttool_result *res)
{
    tx_hosttool_call c = {.tool = &x->t,
                          .proc_dir = scratch,
                          .args_json = "{}",
                          .args_len = 2,
                          .run_id = "run-1",
                          .idempotency_key = "run-1:7",
                          .deadline_ms = deadline_ms,
                          .adopt_orphans = adopt};
    tx_error err;
    tx_error_clear(&err);
    int rc = tx_hosttool_run(&c, res, &err);
    ck_assert_msg(rc == 0, "tx_hosttool_run failed: %s", err.message);
}

/* The run's deadline ends a tool before its own timeout, and kills a child it moved into a
 * session of its own (a descendant, found by its parent). */
START_TEST(test_run_deadline)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    tool x;
    script_tool(&x, "t.long", 20000,
                "setsid sleep 100 & echo $! > \"$D/gc\"; echo $$ > \"$D/pid\"; sleep 30; "
                "echo '{}'");
    tx_hosttool_result res;
    double t0 = now_ms();
    run_bounded(&x, t0 + 300, 0, &res);
    double took = now_ms() - t0;
    expect_error(&res, "ToolTimeout", "tool t.long was stopped at the run's deadline");
    ck_assert_int_eq(res.run_deadline, 1);
    ck_assert_msg(took >= 290 && took < 3000, "took %.0f ms", took);
    pid_t gc = read_pid("gc"), pgid = read_pid("pid");
    ck_assert_msg(gone_within(gc, 3000), "setsid child %d survived the call", gc);
    ck_assert_msg(gone_within(-pgid, 3000), "process group %d survived the call", pgid);

    /* The tool's own, earlier timeout is reported as such. */
    script_tool(&x, "t.own", 200, "sleep 30");
    run_bounded(&x, now_ms() + 20000, 0, &res);
    expect_error(&res, "ToolTimeout", "tool t.own timed out after 200 ms");
    ck_assert_int_eq(res.run_deadline, 0);
}
END_TEST

/* Past the deadline, nothing is started. */
START_TEST(test_deadline_passed)
{
    tool x;
    script_tool(&x, "t.never", 5000, "touch \"$D/ran\"; echo '{}'");
    tx_hosttool_result res;
    run_bounded(&x, now_ms() - 1, 0, &res);
    expect_error(&res, "ToolTimeout", "tool t.never not started: the run's deadline has passed");
    ck_assert_int_eq(res.run_deadline, 1);
    char path[PATH_MAX + 8];
    ck_assert_int_lt(snprintf(path, sizeof path, "%s/ran", scratch), (int)sizeof path);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* A daemon that double-forks out of the tool's session (its parent exits at once, so it is
 * nobody's descendant any more) is reparented to this subreaper and, with adopt_orphans,
 * killed when the call ends; a child that existed before the call is left alone. */
START_TEST(test_adopted_orphan_killed)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    pid_t mine = fork();
    ck_assert_int_ge(mine, 0);
    if (mine == 0) {
        sleep(30);
        _exit(0);
    }
    tool x;
    script_tool(&x, "t.daemon", 10000,
                "( setsid sh -c \"sleep 100 & echo \\$! > '$D/d'\" & ); "
                "while [ ! -s \"$D/d\" ]; do sleep 0.01; done; echo '{\"ok\":1}'");
    tx_hosttool_result res;
    run_bounded(&x, 0, 1, &res);
    ck_assert_msg(res.result != NULL, "%s: %s", res.error_type, res.error);
    json_decref(res.result);
    pid_t d = read_pid("d");
    double until = now_ms() + 3000;
    int gone = 0;
    while (!gone && now_ms() < until) {
        waitpid(d, NULL, WNOHANG);
        gone = kill(d, 0) < 0 && errno == ESRCH;
        if (!gone)
            usleep(10000);
    }
    ck_assert_msg(gone, "daemon %d survived the call", d);
    ck_assert_int_eq(kill(mine, 0), 0); /* not the tool's: untouched */
    kill(mine, SIGKILL);
    waitpid(mine, NULL, 0);
}
END_TEST

static Suite *hosttools_suite(void)
{
    Suite *s = suite_create("hosttools");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_echo_args);
    tcase_add_test(tc, test_env_exact);
    tcase_add_test(tc, test_secrets);
    tcase_add_test(tc, test_bad_calls);
    tcase_add_test(tc, test_idempotency_key);
    tcase_add_test(tc, test_bad_output);
    tcase_add_test(tc, test_exit_status);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_output_too_large);
    tcase_add_test(tc, test_stdin_not_read);
    tcase_add_test(tc, test_output_before_input);
    tcase_add_test(tc, test_grandchild_killed);
    tcase_add_test(tc, test_run_deadline);
    tcase_add_test(tc, test_deadline_passed);
    tcase_add_test(tc, test_adopted_orphan_killed);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_cwd);
    tcase_add_test(tc, test_no_fd_leak_into_tool);
    tcase_add_test(tc, test_signals_reset_in_tool);
    tcase_add_test(tc, test_no_parent_fd_leak);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hosttools_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
