/* cmd_runs.c - `tactus runs` (list) and `tactus show RUN_ID`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "term.h"
#include "commands.h"
#include "evidence.h"
#include "run.h"

static const char runs_help[] =
    "usage: tactus runs [--json]\n"
    "\n"
    "Lists the runs under .tactus/runs (by name): run id, state, first start, last activity,\n"
    "procedure. The state is running (a session holds its journal), suspended (waiting for a\n"
    "person: the resume command for its question follows), interrupted (its process died:\n"
    "tactus resume RUN_ID continues it), or the status of a finished run (ok, error, limit,\n"
    "timeout; system or nondeterminism for a session that failed and may be resumed).\n"
    "Nothing is modified. --json: the same as an array of objects.\n";

static const char show_help[] =
    "usage: tactus show RUN_ID [--json]\n"
    "\n"
    "Summarizes a run: status, procedure, start, duration, steps, host calls, the error, and\n"
    "for a suspended run what it waits for and the resume command. --json prints one object:\n"
    "{\"run_id\", \"status\", \"steps\", \"run\": run.json, \"result\": result.json or null}.\n"
    "RUN_ID may also be the path of a run directory (a run started with --run-dir).\n"
    "The run's run.json must carry this host's MAC (exit 2 otherwise); nothing is changed.\n";

/*
 * True if some process holds a lock on the file at `path` (a live session holds its journal's
 * flock for as long as it runs). Read from /proc/locks, which takes no lock itself, so listing
 * runs can never make a starting session find its journal "in use"; where /proc/locks cannot
 * be read, a non-blocking shared flock is tried and released at once. Nothing is modified.
 */
static int file_locked(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (f != NULL) {
        char line[256];
        int held = 0;
        unsigned maj, min;
        unsigned long ino;
        while (!held && fgets(line, sizeof line, f) != NULL) {
            /* "1: FLOCK  ADVISORY  WRITE 1234 08:01:123456 0 EOF" (blocked waiters: "->") */
            char *p = strstr(line, "FLOCK");
            if (p == NULL || strstr(line, "->") != NULL)
                continue;
            for (int field = 0; field < 4 && p != NULL; field++) {
                p = strchr(p, ' ');
                while (p != NULL && *p == ' ')
                    p++;
            }
            if (p != NULL && sscanf(p, "%x:%x:%lu", &maj, &min, &ino) == 3 &&
                ino == (unsigned long)st.st_ino && maj == major(st.st_dev) &&
                min == minor(st.st_dev))
                held = 1;
        }
        fclose(f);
        return held;
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* releases the probe's lock, if it got one */
    return held;
}

/* The journal's last record (new reference), read from its last line without taking its lock
 * or verifying the whole file; NULL when there is none or it does not parse. */
static json_t *last_record(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    static char buf[1 << 16];
    json_t *rec = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        off_t from = st.st_size > (off_t)sizeof buf - 1 ? st.st_size - (off_t)sizeof buf + 1 : 0;
        ssize_t n = pread(fd, buf, sizeof buf - 1, from);
        if (n > 0) {
            while (n > 0 && (buf[n - 1] == '\0' || buf[n - 1] == '\n'))
                n--; /* the zero reserve and the last newline */
            buf[n] = '\0';
            char *start = memrchr(buf, '\n', (size_t)n);
            start = start ? start + 1 : buf;
            char *tab = strrchr(start, '\t');
            if (tab != NULL)
                rec = json_loadb(start, (size_t)(tab - start), 0, NULL);
        }
    }
    close(fd);
    return rec;
}

/* The newest mtime of the run's live files, as UTC text in buf ("-" if none). */
static void last_activity(const char *dir, char *buf, size_t cap)
{
    static const char *const files[] = {"journal.jsonl", "stream.jsonl", "result.json"};
    time_t newest = 0;
    long ns = 0;
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX + 32];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (stat(path, &st) == 0 && (st.st_mtim.tv_sec > newest ||
                                     (st.st_mtim.tv_sec == newest && st.st_mtim.tv_nsec > ns))) {
            newest = st.st_mtim.tv_sec;
            ns = st.st_mtim.tv_nsec;
        }
    }
    struct tm tm;
    if (newest == 0 || gmtime_r(&newest, &tm) == NULL) {
        snprintf(buf, cap, "-");
        return;
    }
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%.19s.%03dZ", stamp, (int)(ns / 1000000) % 1000);
}

/*
 * The state of a vouched-for run, from what its directory holds (read only): "running" (a
 * session holds the journal's lock), the status of a finished or suspended run, or
 * "interrupted" (no result, or a result older than the journal's state: a suspended run whose
 * journal no longer ends with its question, because a crash cut into the answer window). For a
 * suspended run, fills `resume` with the command that answers its question.
 */
static const char *run_state(const char *dir, const char *id, const json_t *result, char *resume,
                             size_t cap)
{
    char path[PATH_MAX + 32];
    resume[0] = '\0';
    snprintf(path, sizeof path, "%s/journal.jsonl", dir);
    if (file_locked(path))
        return "running";
    const char *status = json_string_value(json_object_get(result, "status"));
    if (status == NULL)
        return "interrupted";
    if (strcmp(status, "suspended") != 0)
        return status;
    json_t *last = last_record(path);
    int pending = json_is_true(json_object_get(last, "pending"));
    const char *kind = json_string_value(json_object_get(last, "name"));
    if (!pending) {
        json_decref(last);
        snprintf(resume, cap, "tactus resume %.128s", id);
        return "interrupted";
    }
    const char *how = "--answer TEXT | --answer-json JSON";
    if (kind != NULL && (strcmp(kind, "approve") == 0 || strcmp(kind, "escalate") == 0))
        how = "--approve | --reject";
    else if (kind != NULL && strcmp(kind, "review") == 0)
        how = "--approve | --reject [--feedback TEXT]";
    snprintf(resume, cap, "tactus resume %.128s %.40s", id, how);
    json_decref(last);
    return "suspended";
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int tx_cmd_runs(int argc, char **argv)
{
    int as_json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(runs_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else {
            fprintf(stderr, "tactus runs: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    struct dirent **names = NULL;
    int n = scandir(TX_RUNS_DIR, &names, NULL, by_name);
    if (n < 0) {
        if (!as_json)
            fprintf(stderr, "tactus runs: no runs yet (%s does not exist)\n", TX_RUNS_DIR);
        else
            printf("[]\n");
        return 0;
    }
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        const char *id = names[i]->d_name;
        if (id[0] == '.' || !tx_valid_run_id(id)) {
            free(names[i]);
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s/run.json", TX_RUNS_DIR, id);
        json_t *record = json_load_file(path, 0, NULL);
        tx_error verr;
        tx_error_clear(&verr);
        /* A directory this host cannot vouch for is listed as such, never with the status its
         * (perhaps planted) result.json claims. */
        int vouched = record != NULL && tx_run_record_verify(record, id, &verr) == 0;
        json_decref(record);
        snprintf(path, sizeof path, "%s/%s/result.json", TX_RUNS_DIR, id);
        json_t *r = vouched ? json_load_file(path, 0, NULL) : NULL;
        const char *status = r ? json_string_value(json_object_get(r, "status")) : NULL;
        if (!vouched)
            status = "unverified";
        char dir[PATH_MAX], resume[300], activity[40];
        snprintf(dir, sizeof dir, "%s/%s", TX_RUNS_DIR, id);
        const char *state = vouched ? run_state(dir, id, r, resume, sizeof resume) : status;
        if (vouched && strcmp(state, "interrupted") == 0 && resume[0] == '\0')
            snprintf(resume, sizeof resume, "tactus resume %s", id);
        last_activity(dir, activity, sizeof activity);
        const char *proc = r ? json_string_value(json_object_get(r, "procedure")) : NULL;
        const char *started = r ? json_string_value(json_object_get(r, "started_at")) : NULL;
        if (as_json)
            json_array_append_new(
                list, json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:s?}", "run_id", id, "status",
                                status ? status : "incomplete", "procedure", proc, "started_at",
                                started, "state", state, "last_activity", activity, "resume",
                                resume[0] ? resume : NULL));
        else
            tx_term_line(stdout, "%-32s %-14s %-24s %-24s %s", id, state, started ? started : "-",
                         activity, proc ? proc : "-");
        if (!as_json && strcmp(state, "suspended") == 0) {
            const char *waiting =
                json_string_value(json_object_get(json_object_get(r, "error"), "message"));
            /* The message is the procedure's: escaped like everything it says (term.h). */
            tx_term_line(stdout, "    %s (%s)", waiting ? waiting : "waiting", resume);
        } else if (!as_json && resume[0] != '\0') {
            tx_term_line(stdout, "    %s", resume);
        }
        json_decref(r);
        free(names[i]);
    }
    free(names);
    if (as_json) {
        char *text = json_dumps(list, JSON_INDENT(2));
        if (text != NULL)
            printf("%s\n", text);
        free(text);
    }
    json_decref(list);
    return 0;
}

/* Records in steps.json, or -1 if it cannot be read (a run that never finished a session). */
static json_int_t count_steps(const char *dir, json_t **pending)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/steps.json", dir);
    json_t *steps = json_load_file(path, JSON_ALLOW_NUL, NULL);
    *pending = NULL;
    if (!json_is_array(steps)) {
        json_decref(steps);
        return -1;
    }
    size_t i;
    json_t *st;
    json_array_foreach(steps, i, st)
    {
        if (json_is_true(json_object_get(st, "pending")))
            *pending = json_incref(json_object_get(st, "result"));
    }
    json_int_t n = (json_int_t)json_array_size(steps);
    json_decref(steps);
    return n;
}

/* The `tactus resume` answer options for a pending human request of kind `kind`. */
static const char *answer_options(const char *kind)
{
    if (kind != NULL && strcmp(kind, "approve") == 0)
        return "--approve | --reject";
    if (kind != NULL && strcmp(kind, "input") == 0)
        return "--answer TEXT | --answer-json JSON";
    return "--approve | --reject | --answer TEXT";
}

/* The summary for people. Everything that may come from the procedure (its path, messages,
 * the request) goes through the terminal escaper. `ref` is how the user named the run. */
static void print_summary(const char *ref, const json_t *run, const json_t *result,
                          json_int_t steps, const json_t *pending)
{
    const char *status = result ? json_string_value(json_object_get(result, "status")) : NULL;
    tx_term_line(stdout, "run:        %s",
                 json_string_value(json_object_get(run, "run_id")) ?: "?");
    tx_term_line(stdout, "procedure:  %s",
                 json_string_value(json_object_get(run, "procedure")) ?: "?");
    if (result == NULL) {
        printf("status:     incomplete (no result.json: still running, or its host died)\n");
    } else {
        tx_term_line(stdout, "status:     %s", status ? status : "?");
        tx_term_line(stdout, "started:    %s",
                     json_string_value(json_object_get(result, "started_at")) ?: "?");
        printf("duration:   %lld ms\n",
               (long long)json_integer_value(json_object_get(result, "duration_ms")));
        printf("host calls: %lld\n",
               (long long)json_integer_value(json_object_get(result, "host_calls")));
    }
    if (steps >= 0)
        printf("steps:      %lld\n", (long long)steps);
    json_t *error = result ? json_object_get(result, "error") : NULL;
    const char *msg = json_string_value(json_object_get(error, "message"));
    if (msg != NULL && (status == NULL || strcmp(status, "suspended") != 0))
        tx_term_line(stdout, "error:      %s: %s",
                     json_string_value(json_object_get(error, "type")) ?: "Error", msg);
    if (status != NULL && strcmp(status, "suspended") == 0) {
        const char *kind = json_string_value(json_object_get(pending, "kind"));
        tx_term_line(stdout, "waiting:    %s", msg ? msg : "for an answer");
        tx_term_line(stdout, "resume:     tactus resume %s %s", ref, answer_options(kind));
    } else if (result == NULL || (status != NULL && strcmp(status, "system") == 0)) {
        tx_term_line(stdout, "resume:     tactus resume %s", ref);
    }
}

int tx_cmd_show(int argc, char **argv)
{
    int as_json = tx_cli_wants_json(argc, argv);
    const char *ref = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(show_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            continue;
        } else if (argv[i][0] == '-' || ref != NULL) {
            return tx_cli_fail(as_json, "show", TACTUS_EUSAGE, NULL, NULL, 0,
                               "unexpected argument '%s' (see tactus show --help)", argv[i]);
        }
        ref = argv[i];
    }
    if (ref == NULL)
        return tx_cli_fail(as_json, "show", TACTUS_EUSAGE, NULL, NULL, 0,
                           "expected one RUN_ID (see tactus show --help)");
    /* A RUN_ID names a run under .tactus/runs; with a '/', it is the run's directory. */
    char dir[PATH_MAX];
    const char *slash = strrchr(ref, '/'), *id = slash ? slash + 1 : ref;
    if (!tx_valid_run_id(id))
        return tx_cli_fail(as_json, "show", TACTUS_EUSAGE, NULL, NULL, 0, "invalid run id '%s'",
                           id);
    if (slash != NULL)
        snprintf(dir, sizeof dir, "%s", ref);
    else
        snprintf(dir, sizeof dir, "%s/%s", TX_RUNS_DIR, id);
    /* Evidence this host cannot vouch for is not shown as if it were a run. */
    json_t *run = tx_cli_run_record_json("show", dir, id, as_json);
    if (run == NULL)
        return TACTUS_EUSAGE;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/result.json", dir);
    json_t *result = json_load_file(path, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(result)) {
        json_decref(result);
        result = NULL;
    }
    json_t *pending = NULL;
    json_int_t steps = count_steps(dir, &pending);
    if (as_json) {
        const char *status = json_string_value(json_object_get(result, "status"));
        json_t *obj = json_pack(
            "{s:s, s:s, s:o?, s:O, s:O?}", "run_id", id, "status", status ? status : "incomplete",
            "steps", steps >= 0 ? json_integer(steps) : NULL, "run", run, "result", result);
        tx_cli_print_json(obj);
        json_decref(obj);
    } else {
        print_summary(ref, run, result, steps, pending);
    }
    json_decref(pending);
    json_decref(result);
    json_decref(run);
    return 0;
}
