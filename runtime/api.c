/* api.c - the public embedding API (tactus.h) on top of tx_run. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
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

static tactus_status run_common(tactus_runtime *rt, const char *name, const char *proc_dir,
                                const char *source, size_t len, const char *input_json,
                                tactus_result **out)
{
    *out = NULL;
    json_t *input = NULL;
    if (input_json != NULL) {
        json_error_t jerr;
        input = json_loads(input_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(input)) {
            json_decref(input);
            return fail_rt(rt, TACTUS_EUSAGE, "input: %s",
                           input ? "must be a JSON object" : jerr.text);
        }
    }
    const char *exe = rt->runner_exe ? rt->runner_exe : TACTUS_INSTALLED_EXE;
    if (rt->isolation != TACTUS_INPROCESS && access(exe, X_OK) != 0) {
        json_decref(input);
        return fail_rt(rt, TACTUS_ESYSTEM,
                       "cannot run %s (needed to start the runner): %s; install tactus or "
                       "call tactus_set_runner()",
                       exe, strerror(errno));
    }
    tx_run_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.runner_exe = rt->isolation == TACTUS_INPROCESS ? NULL : exe;
    spec.source = source;
    spec.source_len = len;
    spec.chunkname = name;
    spec.proc_dir = proc_dir;
    spec.input = input;
    spec.config = &rt->config;
    spec.isolation = rt->isolation;
    spec.runs_dir = rt->runs_dir;
    spec.alloc = rt->alloc;
    spec.alloc_ud = rt->alloc_ud;
    spec.c_tools = rt->tools;
    spec.n_c_tools = rt->ntools;
    spec.on_event = rt->on_event;
    spec.event_ud = rt->event_ud;
    tx_error err;
    tx_error_clear(&err);
    json_t *result = tx_run(&spec, &err);
    json_decref(input);
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
