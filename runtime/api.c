/* api.c - the public embedding API (tactus.h) on top of tx_run. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "config.h"
#include "evidence.h"
#include "journal.h"
#include "run.h"
#include "tactus.h"
#include "tactus_version.h"
#include "util.h"

struct tactus_runtime {
    tactus_alloc_fn alloc;
    void *alloc_ud;
    tx_config config;
    tactus_isolation isolation;
    char *runs_dir;
    tactus_event_fn on_event;
    void *event_ud;
    tx_c_tool *tools;
    size_t ntools;
    char *runner_exe; /* NULL: the installed tactus binary */
    char errmsg[1024];
};

struct tactus_result {
    tactus_status status;
    char *json;
    char *output;
    char *error;
    char *run_id;
};

const char *tactus_version(void)
{
    return TACTUS_VERSION;
}

const char *tactus_status_name(tactus_status status)
{
    static const char *const names[] = {"ok",      "error",     "usage",          "limit",
                                        "timeout", "suspended", "nondeterminism", "system"};
    if ((int)status < 0 || (size_t)status >= sizeof names / sizeof names[0])
        return "unknown";
    return names[status];
}

static tactus_status fail_rt(tactus_runtime *rt, tactus_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static tactus_status fail_rt(tactus_runtime *rt, tactus_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->errmsg, sizeof rt->errmsg, fmt, ap);
    va_end(ap);
    return st;
}

tactus_runtime *tactus_new(void)
{
    return tactus_new_with_alloc(NULL, NULL);
}

tactus_runtime *tactus_new_with_alloc(tactus_alloc_fn alloc, void *ud)
{
    tactus_runtime *rt = alloc ? alloc(ud, NULL, 0, sizeof *rt) : malloc(sizeof *rt);
    if (rt == NULL)
        return NULL;
    memset(rt, 0, sizeof *rt);
    rt->alloc = alloc;
    rt->alloc_ud = ud;
    rt->isolation = TACTUS_INPROCESS;
    tx_config_init(&rt->config);
    return rt;
}

void tactus_free(tactus_runtime *rt)
{
    if (rt == NULL)
        return;
    tx_config_free(&rt->config);
    free(rt->runs_dir);
    free(rt->runner_exe);
    for (size_t i = 0; i < rt->ntools; i++)
        free(rt->tools[i].name);
    free(rt->tools);
    if (rt->alloc)
        rt->alloc(rt->alloc_ud, rt, sizeof *rt, 0);
    else
        free(rt);
}

const char *tactus_errmsg(const tactus_runtime *rt)
{
    return rt ? rt->errmsg : "no runtime";
}

tactus_status tactus_set_limit(tactus_runtime *rt, const char *name, uint64_t value)
{
    int id = name ? tx_limit_by_name(name) : -1;
    if (id < 0)
        return fail_rt(rt, TACTUS_EUSAGE, "unknown limit '%s'", name ? name : "(null)");
    rt->config.limits.allowed[id] = value;
    rt->config.limits_set |= 1u << id;
    return TACTUS_OK;
}

tactus_status tactus_set_isolation(tactus_runtime *rt, tactus_isolation isolation)
{
    if (isolation != TACTUS_INPROCESS && isolation != TACTUS_CHILD && isolation != TACTUS_SANDBOX)
        return fail_rt(rt, TACTUS_EUSAGE, "unknown isolation mode %d", (int)isolation);
    rt->isolation = isolation;
    return TACTUS_OK;
}

tactus_status tactus_set_runner(tactus_runtime *rt, const char *path)
{
    char *copy = NULL;
    if (path != NULL && (copy = strdup(path)) == NULL)
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    free(rt->runner_exe);
    rt->runner_exe = copy;
    return TACTUS_OK;
}

tactus_status tactus_set_runs_dir(tactus_runtime *rt, const char *dir)
{
    char *copy = NULL;
    if (dir != NULL && (copy = strdup(dir)) == NULL)
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    free(rt->runs_dir);
    rt->runs_dir = copy;
    return TACTUS_OK;
}

void tactus_set_event_callback(tactus_runtime *rt, tactus_event_fn fn, void *ud)
{
    rt->on_event = fn;
    rt->event_ud = ud;
}

tactus_status tactus_load_config(tactus_runtime *rt, const char *path)
{
    tx_error err;
    tx_error_clear(&err);
    if (path == NULL)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_load_config: path is NULL");
    if (tx_config_load_file(&rt->config, path, &err) != 0)
        return fail_rt(rt, err.status, "%s", err.message);
    return TACTUS_OK;
}

tactus_status tactus_register_tool(tactus_runtime *rt, const char *name, tactus_tool_fn fn,
                                   void *ud)
{
    if (name == NULL || fn == NULL || !tx_valid_tool_name(name))
        return fail_rt(rt, TACTUS_EUSAGE, "invalid tool name '%s' (use [A-Za-z0-9_.-], 1-128)",
                       name ? name : "(null)");
    for (size_t i = 0; i < rt->ntools; i++)
        if (strcmp(rt->tools[i].name, name) == 0)
            return fail_rt(rt, TACTUS_EUSAGE, "tool '%s' is already registered", name);
    tx_c_tool *grown = realloc(rt->tools, (rt->ntools + 1) * sizeof *grown);
    if (grown == NULL)
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    rt->tools = grown;
    char *copy = strdup(name);
    if (copy == NULL)
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    rt->tools[rt->ntools++] = (tx_c_tool){copy, fn, ud};
    return TACTUS_OK;
}

static char *dump_or_null(const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return NULL;
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

/* Parses input_json (NULL: none) into *input, which must be an object. */
static tactus_status parse_input(tactus_runtime *rt, const char *input_json, json_t **input)
{
    *input = NULL;
    if (input_json == NULL)
        return TACTUS_OK;
    json_error_t jerr;
    json_t *v = json_loads(input_json, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(v)) {
        json_decref(v);
        return fail_rt(rt, TACTUS_EUSAGE, "input: %s", v ? "must be a JSON object" : jerr.text);
    }
    *input = v;
    return TACTUS_OK;
}

/* Fills what every run of rt shares: isolation, runner, evidence, allocator, tools, events. */
static void spec_from_runtime(const tactus_runtime *rt, const char *exe, tx_run_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->runner_exe = rt->isolation == TACTUS_INPROCESS ? NULL : exe;
    spec->config = &rt->config;
    spec->isolation = rt->isolation;
    spec->runs_dir = rt->runs_dir;
    spec->alloc = rt->alloc;
    spec->alloc_ud = rt->alloc_ud;
    spec->c_tools = rt->tools;
    spec->n_c_tools = rt->ntools;
    spec->on_event = rt->on_event;
    spec->event_ud = rt->event_ud;
}

/* The runner binary a run with `isolation` execs, checked now; NULL after fail_rt. */
static const char *runner_for(tactus_runtime *rt, tactus_isolation isolation)
{
    const char *exe = rt->runner_exe ? rt->runner_exe : TACTUS_INSTALLED_EXE;
    if (isolation != TACTUS_INPROCESS && access(exe, X_OK) != 0) {
        fail_rt(rt, TACTUS_ESYSTEM,
                "cannot run %s (needed to start the runner): %s; install tactus or "
                "call tactus_set_runner()",
                exe, strerror(errno));
        return NULL;
    }
    return exe;
}

/* Runs `spec` and hands the outcome out as *out (see tactus_run_file). */
static tactus_status finish_run(tactus_runtime *rt, const tx_run_spec *spec, tactus_result **out)
{
    tx_error err;
    tx_error_clear(&err);
    json_t *result = tx_run(spec, &err);
    if (result == NULL)
        return fail_rt(rt, err.status ? err.status : TACTUS_ESYSTEM, "%s", err.message);
    tactus_result *r = calloc(1, sizeof *r);
    if (r == NULL) {
        json_decref(result);
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    }
    r->status = tx_status_from_string(json_string_value(json_object_get(result, "status")));
    r->json = json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER);
    r->output = r->status == TACTUS_OK ? dump_or_null(json_object_get(result, "output")) : NULL;
    if (r->status == TACTUS_OK && r->output == NULL)
        r->output = strdup("null");
    const char *msg =
        json_string_value(json_object_get(json_object_get(result, "error"), "message"));
    r->error = msg ? strdup(msg) : NULL;
    const char *id = json_string_value(json_object_get(result, "run_id"));
    r->run_id = strdup(id ? id : "");
    json_decref(result);
    if (r->json == NULL || r->run_id == NULL) {
        tactus_result_free(r);
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    }
    *out = r;
    rt->errmsg[0] = '\0';
    return r->status;
}

static tactus_status run_common(tactus_runtime *rt, const char *name, const char *proc_dir,
                                const char *source, size_t len, const char *input_json,
                                tactus_result **out)
{
    *out = NULL;
    json_t *input = NULL;
    tactus_status st = parse_input(rt, input_json, &input);
    if (st != TACTUS_OK)
        return st;
    const char *exe = runner_for(rt, rt->isolation);
    if (exe == NULL) {
        json_decref(input);
        return TACTUS_ESYSTEM;
    }
    tx_run_spec spec;
    spec_from_runtime(rt, exe, &spec);
    spec.source = source;
    spec.source_len = len;
    spec.chunkname = name;
    spec.proc_dir = proc_dir;
    spec.input = input;
    st = finish_run(rt, &spec, out);
    json_decref(input);
    return st;
}

tactus_status tactus_run_string(tactus_runtime *rt, const char *name, const char *source,
                                size_t len, const char *input_json, tactus_result **result)
{
    if (result == NULL)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_run_string: result pointer is NULL");
    *result = NULL;
    if (source == NULL)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_run_string: source is NULL");
    return run_common(rt, name ? name : "(string)", NULL, source, len, input_json, result);
}

tactus_status tactus_run_file(tactus_runtime *rt, const char *path, const char *input_json,
                              tactus_result **result)
{
    if (result == NULL)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_run_file: result pointer is NULL");
    *result = NULL;
    char *source = NULL;
    size_t len = 0;
    tx_error err;
    tx_error_clear(&err);
    if (path == NULL || tx_read_source(path, &source, &len, &err) != 0)
        return fail_rt(rt, TACTUS_EUSAGE, "%s", path ? err.message : "path is NULL");
    char dir[4096];
    tx_dirname(path, dir, sizeof dir);
    tactus_status st = run_common(rt, path, dir, source, len, input_json, result);
    free(source);
    return st;
}

tactus_status tactus_result_status(const tactus_result *r)
{
    return r->status;
}

const char *tactus_result_output(const tactus_result *r)
{
    return r->output;
}

const char *tactus_result_error(const tactus_result *r)
{
    return r->error;
}

const char *tactus_result_json(const tactus_result *r)
{
    return r->json;
}

const char *tactus_result_run_id(const tactus_result *r)
{
    return r->run_id;
}

void tactus_result_free(tactus_result *r)
{
    if (r == NULL)
        return;
    free(r->json);
    free(r->output);
    free(r->error);
    free(r->run_id);
    free(r);
}

/* ---- suspended and interrupted runs --------------------------------------------------------- */

struct tactus_question {
    char *kind, *message, *options, *deflt, *file, *json, *run_id;
    int line;
};

/* Where a run lives, from a `run` argument (see tactus.h). */
typedef struct run_loc {
    char dir[PATH_MAX];      /* the run directory */
    char runs_dir[PATH_MAX]; /* the directory it is in */
    char id[160];            /* its run id (the directory's name) */
} run_loc;

/* Resolves `run` like `tactus resume` does: a path when it holds a '/', else an id under the
 * runtime's runs directory. */
static tactus_status locate_run(tactus_runtime *rt, const char *fn, const char *run, run_loc *loc)
{
    if (run == NULL || run[0] == '\0')
        return fail_rt(rt, TACTUS_EUSAGE, "%s: no run given", fn);
    const char *slash = strrchr(run, '/');
    if (slash != NULL) {
        if (snprintf(loc->dir, sizeof loc->dir, "%s", run) >= (int)sizeof loc->dir)
            return fail_rt(rt, TACTUS_EUSAGE, "%s: run directory path too long", fn);
        tx_dirname(run, loc->runs_dir, sizeof loc->runs_dir);
        snprintf(loc->id, sizeof loc->id, "%.159s", slash + 1);
        if (!tx_valid_run_id(slash + 1))
            return fail_rt(rt, TACTUS_EUSAGE,
                           "%s: '%s' does not end in a run id ([A-Za-z0-9._-], at most 128)", fn,
                           run);
        return TACTUS_OK;
    }
    if (!tx_valid_run_id(run))
        return fail_rt(rt, TACTUS_EUSAGE,
                       "%s: invalid run id '%s' (use [A-Za-z0-9._-], at most 128)", fn, run);
    if (rt->runs_dir == NULL)
        return fail_rt(rt, TACTUS_EUSAGE,
                       "%s: run '%s': no runs directory (call tactus_set_runs_dir or pass the run "
                       "directory's path)",
                       fn, run);
    snprintf(loc->runs_dir, sizeof loc->runs_dir, "%s", rt->runs_dir);
    snprintf(loc->id, sizeof loc->id, "%s", run);
    if (snprintf(loc->dir, sizeof loc->dir, "%s/%s", rt->runs_dir, run) >= (int)sizeof loc->dir)
        return fail_rt(rt, TACTUS_EUSAGE, "%s: run directory path too long", fn);
    return TACTUS_OK;
}

/* Reads <dir>/<name> as JSON without blocking on a planted FIFO and within TX_SOURCE_MAX.
 * NULL with err set (TACTUS_EUSAGE) when it is missing, not a regular file or not JSON. */
static json_t *read_run_file(const run_loc *loc, const char *name, tx_error *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", loc->dir, name);
    char *text = NULL;
    size_t len = 0;
    if (tx_read_source(path, &text, &len, err) != 0)
        return NULL;
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!json_is_object(v)) {
        json_decref(v);
        tx_fail(err, TACTUS_EUSAGE, "%s: %s", path, v ? "not a JSON object" : jerr.text);
        return NULL;
    }
    return v;
}

/* The run's run.json once its MAC proves this host wrote it for this run; NULL after fail_rt. */
static json_t *verified_record(tactus_runtime *rt, const char *fn, const run_loc *loc)
{
    tx_error err;
    tx_error_clear(&err);
    json_t *run = read_run_file(loc, "run.json", &err);
    if (run == NULL) {
        fail_rt(rt, TACTUS_EUSAGE, "%s: no run '%s' (%s)", fn, loc->id, err.message);
        return NULL;
    }
    if (tx_run_record_verify(run, loc->id, &err) != 0) {
        fail_rt(rt, TACTUS_EUSAGE,
                "%s: refusing run '%s': this host did not create it or it was changed since: %s",
                fn, loc->id, err.message);
        json_decref(run);
        return NULL;
    }
    return run;
}

/* A run whose result.json says the procedure reached its end (ok or error) is finished: a
 * resume would only run it again and rewrite its evidence. A run without result.json was
 * interrupted; suspended, timeout, limit, system and the other statuses stopped short of the
 * end and may be continued. */
static tactus_status refuse_finished(tactus_runtime *rt, const run_loc *loc)
{
    char path[PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/result.json", loc->dir);
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return TACTUS_OK;
    tx_error err;
    tx_error_clear(&err);
    json_t *result = read_run_file(loc, "result.json", &err);
    if (result == NULL)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: run '%s': %s", loc->id, err.message);
    const char *status = json_string_value(json_object_get(result, "status"));
    int finished = status != NULL && (strcmp(status, "ok") == 0 || strcmp(status, "error") == 0);
    tactus_status rc = TACTUS_OK;
    if (finished)
        rc = fail_rt(rt, TACTUS_EUSAGE,
                     "tactus_resume: run '%s' has finished (status %s): it is not changed", loc->id,
                     status);
    json_decref(result);
    return rc;
}

/* Refuses a run whose journal another process holds (a run or resume in progress) before a
 * runner is started for it; the journal's own open refuses it again under the lock, this only
 * spares a child runner that would be started and dropped. */
static tactus_status refuse_locked(tactus_runtime *rt, const run_loc *loc)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/journal.jsonl", loc->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return TACTUS_OK; /* no journal yet, or not one: tx_run says which */
    int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* also releases the lock if we took it */
    if (held)
        return fail_rt(rt, TACTUS_EUSAGE, "run %s is in use by another process", loc->id);
    return TACTUS_OK;
}

/* The answer object tx_run takes ({"approve": true}, ...), or NULL for none; fail_rt on bad
 * arguments. */
static tactus_status make_answer(tactus_runtime *rt, tactus_answer_kind kind, const char *value,
                                 json_t **answer)
{
    *answer = NULL;
    int wants_value = kind == TACTUS_ANSWER_TEXT || kind == TACTUS_ANSWER_JSON;
    if (kind < TACTUS_ANSWER_NONE || kind > TACTUS_ANSWER_JSON)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: unknown answer kind %d", (int)kind);
    if (wants_value != (value != NULL))
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: %s",
                       wants_value ? "a text or JSON answer needs a value"
                                   : "only a text or JSON answer takes a value");
    json_t *a = NULL;
    if (kind == TACTUS_ANSWER_NONE)
        return TACTUS_OK;
    if (kind == TACTUS_ANSWER_APPROVE || kind == TACTUS_ANSWER_REJECT) {
        a = json_pack("{s:b}", kind == TACTUS_ANSWER_APPROVE ? "approve" : "reject", 1);
    } else if (kind == TACTUS_ANSWER_TEXT) {
        json_t *text = json_string(value);
        if (text == NULL)
            return fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: the text answer is not UTF-8");
        a = json_pack("{s:o}", "text", text);
    } else {
        json_error_t jerr;
        json_t *v = json_loads(value, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (v == NULL)
            return fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: the JSON answer: %s", jerr.text);
        a = json_pack("{s:o}", "json", v);
    }
    if (a == NULL)
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    *answer = a;
    return TACTUS_OK;
}

/* The configuration a resumed run uses (see tactus_resume): the runtime's, or the recorded
 * --policy file narrowed by the runtime's explicitly set limits (into *own, which the caller
 * frees). NULL after fail_rt. */
static const tx_config *resume_config(tactus_runtime *rt, const json_t *record, tx_config *own)
{
    const char *policy = json_string_value(json_object_get(record, "policy"));
    if (policy == NULL)
        return &rt->config;
    tx_error err;
    tx_error_clear(&err);
    if (tx_config_load_file(own, policy, &err) != 0) {
        fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: the run's policy: %s", err.message);
        return NULL;
    }
    for (int id = 0; id < TX_LIMIT__COUNT; id++) {
        uint64_t mine = rt->config.limits.allowed[id], *theirs = &own->limits.allowed[id];
        if ((rt->config.limits_set & (1u << id)) && mine != 0 && (*theirs == 0 || mine < *theirs))
            *theirs = mine;
    }
    return own;
}

/* The recorded isolation, made no weaker than the runtime's. */
static tactus_isolation resume_isolation(const tactus_runtime *rt, const json_t *record)
{
    const char *name = json_string_value(json_object_get(record, "isolation"));
    tactus_isolation recorded = TACTUS_SANDBOX; /* unknown: the strictest */
    if (name != NULL && strcmp(name, "inprocess") == 0)
        recorded = TACTUS_INPROCESS;
    else if (name != NULL && strcmp(name, "child") == 0)
        recorded = TACTUS_CHILD;
    return recorded > rt->isolation ? recorded : rt->isolation;
}

/* The recorded procedure: the path as given when the run started if it still resolves from
 * here, else its absolute path (as `tactus resume` chooses). NULL when the run was not started
 * from a file (tactus_run_string records no procedure_path): a file that happens to have the
 * run's name is not its source. */
static const char *recorded_procedure(const json_t *record)
{
    const char *path = json_string_value(json_object_get(record, "procedure_path"));
    if (path == NULL)
        return NULL;
    const char *file = json_string_value(json_object_get(record, "procedure"));
    struct stat st;
    if (file == NULL || stat(file, &st) != 0)
        file = path;
    return file;
}

tactus_status tactus_resume(tactus_runtime *rt, const char *run, tactus_answer_kind kind,
                            const char *value, tactus_result **result)
{
    if (result == NULL)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: result pointer is NULL");
    *result = NULL;
    json_t *answer = NULL, *record = NULL;
    char *source = NULL;
    tx_config own;
    tx_config_init(&own);
    run_loc loc;
    tactus_status st = make_answer(rt, kind, value, &answer);
    if (st == TACTUS_OK)
        st = locate_run(rt, "tactus_resume", run, &loc);
    if (st == TACTUS_OK && (record = verified_record(rt, "tactus_resume", &loc)) == NULL)
        st = TACTUS_EUSAGE;
    if (st == TACTUS_OK)
        st = refuse_finished(rt, &loc);
    if (st == TACTUS_OK)
        st = refuse_locked(rt, &loc);
    if (st != TACTUS_OK)
        goto done;
    const char *file = recorded_procedure(record);
    size_t len = 0;
    tx_error err;
    tx_error_clear(&err);
    if (file == NULL || tx_read_source(file, &source, &len, &err) != 0) {
        st = fail_rt(rt, TACTUS_EUSAGE, "tactus_resume: run '%s': %s", loc.id,
                     file ? err.message
                          : "it was not started from a procedure file (tactus_run_string): "
                            "only runs of tactus_run_file or `tactus run` can be resumed");
        goto done;
    }
    const tx_config *config = resume_config(rt, record, &own);
    tactus_isolation isolation = resume_isolation(rt, record);
    const char *exe = config ? runner_for(rt, isolation) : NULL;
    if (config == NULL || exe == NULL) {
        st = config == NULL ? TACTUS_EUSAGE : TACTUS_ESYSTEM;
        goto done;
    }
    char proc_dir[PATH_MAX];
    tx_dirname(file, proc_dir, sizeof proc_dir);
    json_t *input = json_object_get(record, "input"), *params = json_object_get(record, "params");
    tx_run_spec spec;
    spec_from_runtime(rt, exe, &spec);
    spec.runner_exe = isolation == TACTUS_INPROCESS ? NULL : exe;
    spec.isolation = isolation;
    spec.config = config;
    spec.source = source;
    spec.source_len = len;
    /* The name the run was started with, wherever the file is read from now: call sites in
     * the journal carry it, and a replay under another name would diverge at the first one. */
    const char *name = json_string_value(json_object_get(record, "procedure"));
    spec.chunkname = name ? name : file;
    spec.proc_dir = proc_dir;
    spec.input = json_is_object(input) ? input : NULL;
    spec.params = json_is_object(params) ? params : NULL;
    spec.policy = json_string_value(json_object_get(record, "policy"));
    spec.runs_dir = loc.runs_dir;
    spec.run_id = loc.id;
    spec.resume = 1;
    spec.answer = answer;
    st = finish_run(rt, &spec, result);
done:
    free(source);
    json_decref(answer);
    json_decref(record);
    tx_config_free(&own);
    return st;
}

/* Splits a call site "file.tac:12" into q->file and q->line (0 when it has no line). */
static int split_site(const char *site, tactus_question *q)
{
    const char *colon = strrchr(site, ':');
    char *end = NULL;
    long line = 0;
    if (colon != NULL && colon[1] != '\0') {
        errno = 0;
        line = strtol(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || line < 0 || line > INT_MAX)
            colon = NULL, line = 0;
    } else {
        colon = NULL;
    }
    size_t n = colon ? (size_t)(colon - site) : strlen(site);
    q->file = strndup(site, n);
    q->line = (int)line;
    return q->file ? 0 : -1;
}

/* *out = v as compact JSON text, or NULL for an absent or null v. -1 when out of memory. */
static int dump_field(const json_t *v, char **out)
{
    *out = dump_or_null(v);
    return *out == NULL && v != NULL && !json_is_null(v) ? -1 : 0;
}

/* A question from a pending journal record; NULL when out of memory. The record was checked by
 * the broker when it was written (a pending record is a Human.* request); its request object
 * still comes from the procedure, so any field may be missing or of another type. */
static tactus_question *question_from(const json_t *rec, const char *run_id)
{
    tactus_question *q = calloc(1, sizeof *q);
    if (q == NULL)
        return NULL;
    json_t *req = json_object_get(rec, "result");
    if (!json_is_object(req))
        req = NULL;
    const char *kind = json_string_value(json_object_get(rec, "name"));
    const char *msg = json_string_value(json_object_get(req, "message"));
    const char *site = json_string_value(json_object_get(rec, "site"));
    q->kind = strdup(kind ? kind : "input");
    q->message = strdup(msg ? msg : "");
    q->run_id = strdup(run_id);
    q->json = req ? json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER) : strdup("{}");
    if (q->kind == NULL || q->message == NULL || q->run_id == NULL || q->json == NULL ||
        dump_field(json_object_get(req, "options"), &q->options) != 0 ||
        dump_field(json_object_get(req, "default"), &q->deflt) != 0 ||
        split_site(site ? site : "", q) != 0) {
        tactus_question_free(q);
        return NULL;
    }
    return q;
}

tactus_status tactus_question_get(tactus_runtime *rt, const char *run, tactus_question **question)
{
    if (question == NULL)
        return fail_rt(rt, TACTUS_EUSAGE, "tactus_question_get: question pointer is NULL");
    *question = NULL;
    run_loc loc;
    tactus_status st = locate_run(rt, "tactus_question_get", run, &loc);
    if (st != TACTUS_OK)
        return st;
    json_t *record = verified_record(rt, "tactus_question_get", &loc);
    if (record == NULL)
        return TACTUS_EUSAGE;
    json_decref(record);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/journal.jsonl", loc.dir);
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return fail_rt(rt, TACTUS_EUSAGE, "run %s is not waiting for an answer (no journal)",
                       loc.id);
    tx_error err;
    tx_error_clear(&err);
    tx_journal *j = NULL;
    /* Opened under its lock, like a resume: a run another process is continuing is refused. */
    if (tx_journal_open(path, NULL, TX_DURABILITY_NONE, &j, NULL, &err) != 0)
        return fail_rt(rt, err.status ? err.status : TACTUS_ESYSTEM, "%s", err.message);
    const tx_journal_meta *meta = tx_journal_meta_get(j);
    long n = tx_journal_count(j);
    json_t *last = NULL;
    if (meta == NULL || meta->run_id == NULL || strcmp(meta->run_id, loc.id) != 0)
        st = fail_rt(rt, TACTUS_EUSAGE, "%s: the journal belongs to another run", path);
    else if (n > 0 && (last = tx_journal_read(j, n, &err)) == NULL)
        st = fail_rt(rt, err.status ? err.status : TACTUS_ESYSTEM, "%s", err.message);
    tx_journal_close(j);
    if (st != TACTUS_OK)
        return st;
    if (last == NULL || !json_is_true(json_object_get(last, "pending"))) {
        json_decref(last);
        return fail_rt(rt, TACTUS_EUSAGE, "run %s is not waiting for an answer", loc.id);
    }
    *question = question_from(last, loc.id);
    json_decref(last);
    if (*question == NULL)
        return fail_rt(rt, TACTUS_ESYSTEM, "out of memory");
    rt->errmsg[0] = '\0';
    return TACTUS_OK;
}

const char *tactus_question_kind(const tactus_question *q)
{
    return q->kind;
}

const char *tactus_question_message(const tactus_question *q)
{
    return q->message;
}

const char *tactus_question_options(const tactus_question *q)
{
    return q->options;
}

const char *tactus_question_default(const tactus_question *q)
{
    return q->deflt;
}

const char *tactus_question_file(const tactus_question *q)
{
    return q->file;
}

int tactus_question_line(const tactus_question *q)
{
    return q->line;
}

const char *tactus_question_json(const tactus_question *q)
{
    return q->json;
}

const char *tactus_question_run_id(const tactus_question *q)
{
    return q->run_id;
}

void tactus_question_free(tactus_question *q)
{
    if (q == NULL)
        return;
    free(q->kind);
    free(q->message);
    free(q->options);
    free(q->deflt);
    free(q->file);
    free(q->json);
    free(q->run_id);
    free(q);
}
