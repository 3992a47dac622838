/*
 * check_case.c - runs one `.tac` conformance or escape case and compares the outcome with its
 * expectation file.
 *
 *   check_case TACTUS_BINARY CASE.tac
 *
 * Runs `TACTUS run CASE.tac --json --quiet ARGS...` in a fresh temporary directory (so the
 * run's evidence lands there and nothing leaks between cases), kills it after a hard timeout,
 * and checks what it printed against CASE.expect.json:
 *
 *   args            extra CLI arguments; "{dir}" in an argument becomes the case's directory
 *   file            run this file (relative to the case's directory) instead of CASE.tac
 *   exit            the exit code (required)
 *   status          result.json "status"; when absent, stdout must be empty (a usage error)
 *   output          compared exactly: key sets, array order, integer vs real all matter
 *   error_type      error.type
 *   error_contains  substring of error.message
 *   error_line      error.line
 *   error_limit     error.limit (the name of the tripped limit)
 *   stderr_contains substring of stderr (for failures that happen before a run exists)
 *   timeout         seconds before the run is killed (default 30)
 *
 * Beyond the expectation, every result must be well formed: an "ok" run has error null, any
 * other status has an error object with a string type and message, and the result.json kept
 * in the run directory is the object printed on stdout.
 *
 * Exit status: 0 when everything matches, 1 on any mismatch or if the case cannot be run.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_S 30
#define MAX_TIMEOUT_S 600
#define MAX_ARGS 64
#define CAPTURE_MAX (8u * 1024u * 1024u) /* per stream; more is read and dropped */

/* One captured output stream of the child. */
typedef struct capture {
    char *data;
    size_t len, cap;
    int truncated;
} capture;

/* What the run did. */
typedef struct outcome {
    capture out, err;
    int exited;    /* 1 if it exited normally */
    int code;      /* exit code when exited */
    int signal;    /* terminating signal otherwise */
    int timed_out; /* 1 if we killed it at the deadline */
} outcome;

/* Failure messages of one check; a case passes when none were added. */
typedef struct report {
    const char *case_path;
    int failures;
} report;

static void fail(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records one mismatch and prints it in a diff-like form on stderr. */
static void fail(report *r, const char *fmt, ...)
{
    va_list ap;
    if (r->failures == 0)
        fprintf(stderr, "FAIL %s\n", r->case_path);
    r->failures++;
    fputs("  ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends n bytes to c, keeping at most CAPTURE_MAX; returns -1 only when out of memory. */
static int capture_add(capture *c, const char *buf, size_t n)
{
    if (c->len + n > CAPTURE_MAX) {
        n = CAPTURE_MAX - c->len;
        c->truncated = 1;
    }
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *p = realloc(c->data, cap);
        if (p == NULL)
            return -1;
        c->data = p;
        c->cap = cap;
    }
    memcpy(c->data + c->len, buf, n);
    c->len += n;
    c->data[c->len] = '\0';
    return 0;
}

/* Reads what is available on fd into c; returns 0 at EOF, 1 if the stream stays open, -1 on
 * error. */
static int drain(int fd, capture *c)
{
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    if (n == 0)
        return 0;
    if (capture_add(c, buf, (size_t)n) != 0)
        return -1;
    return 1;
}

/* Child side: becomes its own process group (so a timeout kills everything it started), runs
 * in workdir with stdin from /dev/null. Never returns. */
static void exec_child(char **argv, const char *workdir, int out_fd, int err_fd)
{
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 ||
        chdir(workdir) != 0)
        _exit(126);
    execv(argv[0], argv);
    dprintf(2, "check_case: cannot execute %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Runs argv in workdir, capturing both streams, killing the process group after timeout_s.
 * Fills *o (the caller frees the captures). Returns 0, or -1 if the child could not be
 * started or supervised (message printed). */
static int run_child(char **argv, const char *workdir, int timeout_s, outcome *o)
{
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0)
        return perror("check_case: pipe"), -1;
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        close(out_pipe[0]);
        close(out_pipe[1]);
        return perror("check_case: pipe"), -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("check_case: fork");
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(err_pipe[0]);
        close(err_pipe[1]);
        return -1;
    }
    if (pid == 0)
        exec_child(argv, workdir, out_pipe[1], err_pipe[1]);
    setpgid(pid, pid); /* also from here, so the group exists before any kill */
    close(out_pipe[1]);
    close(err_pipe[1]);

    double deadline = now_s() + timeout_s;
    int open_out = 1, open_err = 1, rc = 0;
    while (open_out || open_err) {
        double left = deadline - now_s();
        if (left <= 0) {
            o->timed_out = 1;
            break;
        }
        struct pollfd fds[2] = {{open_out ? out_pipe[0] : -1, POLLIN, 0},
                                {open_err ? err_pipe[0] : -1, POLLIN, 0}};
        int n = poll(fds, 2, (int)(left * 1000.0) + 1);
        if (n < 0 && errno != EINTR) {
            perror("check_case: poll");
            rc = -1;
            break;
        }
        if (n <= 0)
            continue;
        if (open_out && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            int d = drain(out_pipe[0], &o->out);
            if (d < 0)
                rc = -1;
            open_out = d > 0;
        }
        if (open_err && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            int d = drain(err_pipe[0], &o->err);
            if (d < 0)
                rc = -1;
            open_err = d > 0;
        }
        if (rc != 0)
            break;
    }
    if (o->timed_out || rc != 0)
        kill(-pid, SIGKILL);
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("check_case: waitpid");
            return -1;
        }
    }
    /* Leftover grandchildren (a runner the CLI failed to reap) must not outlive the case. */
    kill(-pid, SIGKILL);
    if (WIFEXITED(status)) {
        o->exited = 1;
        o->code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        o->signal = WTERMSIG(status);
    }
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "check_case: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* Removes the temporary work directory and everything in it, never following symlinks. */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- comparing JSON values ----------------------------------------------------------------- */

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* A short one-line rendering of v for messages; the caller frees it. */
static char *show(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (s == NULL)
        return strdup("(unprintable)");
    if (strlen(s) > 300)
        strcpy(s + 290, "...(cut)");
    return s;
}

/* Compares expected with actual exactly (integers and reals are different types), reporting
 * every difference with its path, like `output.sum: expected 9 (integer), got 9.0 (real)`. */
static void compare(report *r, const char *path, const json_t *want, const json_t *got)
{
    if (got == NULL) {
        fail(r, "%s: missing (expected %s)", path, type_name(want));
        return;
    }
    if (json_typeof(want) != json_typeof(got) && !(json_is_boolean(want) && json_is_boolean(got))) {
        char *w = show(want), *g = show(got);
        fail(r, "%s: expected %s (%s), got %s (%s)", path, w, type_name(want), g, type_name(got));
        free(w);
        free(g);
        return;
    }
    char sub[1024];
    if (json_is_object(want)) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)want, key, value)
        {
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            compare(r, sub, value, json_object_get(got, key));
        }
        json_object_foreach((json_t *)got, key, value)
        {
            if (json_object_get(want, key) == NULL) {
                char *g = show(value);
                fail(r, "%s.%s: unexpected key, got %s", path, key, g);
                free(g);
            }
        }
        return;
    }
    if (json_is_array(want)) {
        size_t nw = json_array_size(want), ng = json_array_size(got);
        if (nw != ng) {
            char *w = show(want), *g = show(got);
            fail(r, "%s: expected %zu elements %s, got %zu elements %s", path, nw, w, ng, g);
            free(w);
            free(g);
            return;
        }
        for (size_t i = 0; i < nw; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            compare(r, sub, json_array_get(want, i), json_array_get(got, i));
        }
        return;
    }
    if (!json_equal((json_t *)want, (json_t *)got)) {
        char *w = show(want), *g = show(got);
        fail(r, "%s: expected %s, got %s", path, w, g);
        free(w);
        free(g);
    }
}

/* ---- the expectation file ---------------------------------------------------------------- */

static const char *const known_keys[] = {
    "args",           "file",       "exit",        "status",          "output",  "error_type",
    "error_contains", "error_line", "error_limit", "stderr_contains", "timeout", NULL};

/* Loads and sanity-checks the expectation; returns it, or NULL with a message naming the key. */
static json_t *load_expectation(const char *path)
{
    json_error_t jerr;
    json_t *e = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (e == NULL) {
        fprintf(stderr, "check_case: %s:%d: %s\n", path, jerr.line, jerr.text);
        return NULL;
    }
    const char *bad = NULL;
    const char *key;
    json_t *v;
    if (!json_is_object(e)) {
        bad = "(top level must be an object)";
    } else {
        json_object_foreach(e, key, v)
        {
            int known = 0;
            for (int i = 0; known_keys[i]; i++)
                known |= strcmp(known_keys[i], key) == 0;
            if (!known) {
                bad = key;
                break;
            }
        }
    }
    if (bad == NULL && !json_is_integer(json_object_get(e, "exit")))
        bad = "exit (required, an integer)";
    static const char *const strings[] = {
        "file", "status", "error_type", "error_contains", "error_limit", "stderr_contains", NULL};
    for (int i = 0; bad == NULL && strings[i]; i++) {
        json_t *s = json_object_get(e, strings[i]);
        if (s != NULL && !json_is_string(s))
            bad = strings[i];
    }
    json_t *args = json_object_get(e, "args");
    if (bad == NULL && args != NULL) {
        if (!json_is_array(args) || json_array_size(args) > MAX_ARGS)
            bad = "args (a list of at most 64 strings)";
        for (size_t i = 0; bad == NULL && i < json_array_size(args); i++)
            if (!json_is_string(json_array_get(args, i)))
                bad = "args (a list of at most 64 strings)";
    }
    json_t *line = json_object_get(e, "error_line");
    if (bad == NULL && line != NULL && !json_is_integer(line))
        bad = "error_line";
    json_t *t = json_object_get(e, "timeout");
    if (bad == NULL && t != NULL &&
        (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > MAX_TIMEOUT_S))
        bad = "timeout (1-600 seconds)";
    if (bad != NULL) {
        fprintf(stderr, "check_case: %s: bad or unknown key: %s\n", path, bad);
        json_decref(e);
        return NULL;
    }
    return e;
}

/* Replaces every "{dir}" in arg with dir; the caller frees the result. */
static char *expand_arg(const char *arg, const char *dir)
{
    size_t dlen = strlen(dir), n = 0;
    for (const char *p = strstr(arg, "{dir}"); p; p = strstr(p + 5, "{dir}"))
        n++;
    char *out = malloc(strlen(arg) + n * dlen + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = arg; *p;) {
        if (strncmp(p, "{dir}", 5) == 0) {
            memcpy(o, dir, dlen);
            o += dlen;
            p += 5;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* ---- checking the outcome ---------------------------------------------------------------- */

static const char *str_field(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The result.json the run left in workdir must be the object printed on stdout. */
static void check_evidence(report *r, const json_t *result, const char *workdir)
{
    const char *run_id = str_field(result, "run_id");
    if (run_id == NULL || strchr(run_id, '/') != NULL || strcmp(run_id, "..") == 0) {
        fail(r, "result.run_id: missing or not a plain name");
        return;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.tactus/runs/%s/result.json", workdir, run_id) >=
        (int)sizeof path) {
        fail(r, "run directory: path too long");
        return;
    }
    json_error_t jerr;
    json_t *stored = json_load_file(path, 0, &jerr);
    if (stored == NULL) {
        fail(r, "run directory: cannot read .tactus/runs/%s/result.json: %s", run_id, jerr.text);
        return;
    }
    if (!json_equal(stored, (json_t *)result))
        fail(r, "run directory: stored result.json differs from the one printed on stdout");
    json_decref(stored);
}

/* A result object must be internally consistent whatever the expectation says. */
static void check_shape(report *r, const json_t *result)
{
    const char *status = str_field(result, "status");
    json_t *error = json_object_get(result, "error");
    if (status == NULL) {
        fail(r, "result.status: missing or not a string");
        return;
    }
    if (strcmp(status, "ok") == 0) {
        if (!json_is_null(error))
            fail(r, "result.error: must be null when status is ok");
        return;
    }
    if (!json_is_object(error) || str_field(error, "type") == NULL ||
        str_field(error, "message") == NULL)
        fail(r, "result.error: status %s needs an error object with string type and message",
             status);
    if (!json_is_null(json_object_get(result, "output")))
        fail(r, "result.output: must be null when status is %s", status);
}

static void check_string(report *r, const char *what, const char *want, const char *got)
{
    if (got == NULL)
        fail(r, "%s: expected \"%s\", got nothing", what, want);
    else if (strcmp(want, got) != 0)
        fail(r, "%s: expected \"%s\", got \"%s\"", what, want, got);
}

static void check_contains(report *r, const char *what, const char *needle, const char *hay)
{
    if (hay == NULL)
        fail(r, "%s: expected to contain \"%s\", got nothing", what, needle);
    else if (strstr(hay, needle) == NULL)
        fail(r, "%s: expected to contain \"%s\", got \"%.600s\"", what, needle, hay);
}

static void check_outcome(report *r, const json_t *e, const outcome *o, const char *workdir)
{
    if (o->timed_out) {
        fail(r, "run: killed after the hard timeout (no result in time)");
        return;
    }
    if (!o->exited) {
        fail(r, "run: tactus died from signal %d", o->signal);
        return;
    }
    int want_exit = (int)json_integer_value(json_object_get(e, "exit"));
    if (o->code != want_exit)
        fail(r, "exit: expected %d, got %d", want_exit, o->code);
    if (o->out.truncated)
        fail(r, "stdout: more than %u bytes", CAPTURE_MAX);

    const char *want_stderr = str_field(e, "stderr_contains");
    if (want_stderr != NULL)
        check_contains(r, "stderr", want_stderr, o->err.data ? o->err.data : "");

    const char *want_status = str_field(e, "status");
    if (want_status == NULL) {
        /* No run: --json still prints one {status, error: {type, message}} object (issue 9),
         * its status the name of the exit code. */
        json_error_t jerr;
        json_t *obj = o->out.len ? json_loadb(o->out.data, o->out.len, 0, &jerr) : NULL;
        json_t *error = json_object_get(obj, "error");
        static const char *const names[] = {"ok",      "error",     "usage",          "limit",
                                            "timeout", "suspended", "nondeterminism", "system"};
        const char *status = str_field(obj, "status");
        if (!json_is_object(obj) || status == NULL || o->code < 0 || o->code > 7 ||
            strcmp(status, names[o->code]) != 0 ||
            str_field(error, "type") == NULL || str_field(error, "message") == NULL)
            fail(r, "stdout: expected one {status, error} object (no run), got \"%.300s\"",
                 o->out.data ? o->out.data : "");
        json_decref(obj);
        return;
    }
    json_error_t jerr;
    json_t *result = o->out.len ? json_loadb(o->out.data, o->out.len, 0, &jerr) : NULL;
    if (!json_is_object(result)) {
        fail(r, "stdout: expected a result.json object, got \"%.300s\"%s",
             o->out.data ? o->out.data : "", o->out.len ? "" : "(empty)");
        json_decref(result);
        return;
    }
    check_shape(r, result);
    check_evidence(r, result, workdir);
    check_string(r, "status", want_status, str_field(result, "status"));

    json_t *want_output = json_object_get(e, "output");
    if (want_output != NULL)
        compare(r, "output", want_output, json_object_get(result, "output"));

    json_t *error = json_object_get(result, "error");
    if (json_object_get(e, "error_type"))
        check_string(r, "error.type", str_field(e, "error_type"), str_field(error, "type"));
    if (json_object_get(e, "error_limit"))
        check_string(r, "error.limit", str_field(e, "error_limit"), str_field(error, "limit"));
    if (json_object_get(e, "error_contains"))
        check_contains(r, "error.message", str_field(e, "error_contains"),
                       str_field(error, "message"));
    json_t *want_line = json_object_get(e, "error_line");
    if (want_line != NULL) {
        json_t *line = json_object_get(error, "line");
        if (!json_is_integer(line))
            fail(r, "error.line: expected %lld, got %s", (long long)json_integer_value(want_line),
                 line ? type_name(line) : "nothing");
        else if (json_integer_value(line) != json_integer_value(want_line))
            fail(r, "error.line: expected %lld, got %lld", (long long)json_integer_value(want_line),
                 (long long)json_integer_value(line));
    }
    if (r->failures > 0)
        fprintf(stderr, "  (stderr of the run: %.2000s)\n", o->err.data ? o->err.data : "");
    json_decref(result);
}

/* ---- main ------------------------------------------------------------------------------ */

/* Absolute form of path (which must exist) into out; returns 0 or -1 with a message. */
static int absolute(const char *path, char out[PATH_MAX])
{
    if (realpath(path, out) == NULL) {
        fprintf(stderr, "check_case: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: check_case TACTUS_BINARY CASE.tac\n");
        return 1;
    }
    char tactus[PATH_MAX], case_path[PATH_MAX], case_dir[PATH_MAX], expect_path[PATH_MAX + 16];
    if (absolute(argv[1], tactus) != 0 || absolute(argv[2], case_path) != 0)
        return 1;
    size_t len = strlen(case_path);
    if (len < 5 || strcmp(case_path + len - 4, ".tac") != 0) {
        fprintf(stderr, "check_case: %s: a case file must end in .tac\n", case_path);
        return 1;
    }
    snprintf(expect_path, sizeof expect_path, "%.*s.expect.json", (int)(len - 4), case_path);
    snprintf(case_dir, sizeof case_dir, "%s", case_path);
    *strrchr(case_dir, '/') = '\0';

    json_t *e = load_expectation(expect_path);
    if (e == NULL)
        return 1;

    /* argv: TACTUS run FILE --json --quiet ARGS... NULL */
    char *child_argv[MAX_ARGS + 8];
    char *owned[MAX_ARGS + 1];
    int nargs = 0, nowned = 0, rc = 1;
    char file_path[PATH_MAX * 2];
    const char *file = str_field(e, "file");
    if (file != NULL)
        snprintf(file_path, sizeof file_path, "%s/%s", case_dir, file);
    else
        snprintf(file_path, sizeof file_path, "%s", case_path);
    child_argv[nargs++] = tactus;
    child_argv[nargs++] = "run";
    child_argv[nargs++] = file_path;
    child_argv[nargs++] = "--json";
    child_argv[nargs++] = "--quiet";
    json_t *args = json_object_get(e, "args");
    for (size_t i = 0; i < json_array_size(args); i++) {
        char *a = expand_arg(json_string_value(json_array_get(args, i)), case_dir);
        if (a == NULL) {
            fprintf(stderr, "check_case: out of memory\n");
            goto out;
        }
        owned[nowned++] = a;
        child_argv[nargs++] = a;
    }
    child_argv[nargs] = NULL;

    /* $TMPDIR if it is an absolute path, else /tmp. */
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > PATH_MAX - 32)
        tmp = "/tmp";
    char workdir[PATH_MAX];
    snprintf(workdir, sizeof workdir, "%s/tactus-case-XXXXXX", tmp);
    if (mkdtemp(workdir) == NULL) {
        perror("check_case: mkdtemp");
        goto out;
    }
    json_t *t = json_object_get(e, "timeout");
    int timeout_s = t ? (int)json_integer_value(t) : DEFAULT_TIMEOUT_S;
    outcome o;
    memset(&o, 0, sizeof o);
    double started = now_s();
    if (run_child(child_argv, workdir, timeout_s, &o) == 0) {
        report r = {case_path, 0};
        check_outcome(&r, e, &o, workdir);
        if (r.failures == 0) {
            printf("ok %s (%.2fs)\n", case_path, now_s() - started);
            rc = 0;
        }
    }
    free(o.out.data);
    free(o.err.data);
    remove_tree(workdir);
out:
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    json_decref(e);
    return rc;
}
