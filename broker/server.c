/* server.c - the broker's request handler (see server.h). */
#include "server.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MODULE_MAX_BYTES (4u << 20)
#define TOOL_NAME_MAX 128

struct tx_server {
    tx_server_opts opts;
    json_t *result; /* from run.finish */
    json_t *steps;  /* steps.json array */
    long host_calls;
};

tx_server *tx_server_new(const tx_server_opts *opts, tx_error *err)
{
    tx_server *s = calloc(1, sizeof *s);
    if (s == NULL || (s->steps = json_array()) == NULL) {
        free(s);
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    return s;
}

void tx_server_free(tx_server *s)
{
    if (s == NULL)
        return;
    json_decref(s->result);
    json_decref(s->steps);
    free(s);
}

int tx_server_record(tx_server *s, json_t *event, tx_error *err)
{
    if (s->opts.on_event != NULL) {
        char *text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text != NULL) {
            s->opts.on_event(s->opts.event_ud, text);
            free(text);
        }
    }
    if (s->opts.evidence != NULL)
        return tx_evidence_event(s->opts.evidence, event, err);
    return 0;
}

json_t *tx_server_take_result(tx_server *s)
{
    json_t *r = s->result;
    s->result = NULL;
    return r;
}

json_t *tx_server_steps(const tx_server *s)
{
    return s->steps;
}

long tx_server_host_calls(const tx_server *s)
{
    return s->host_calls;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* "sha256:<hex>" of the compact JSON of v. */
static void digest_json(const json_t *v, char *out, size_t cap)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    if (text == NULL) {
        snprintf(out, cap, "sha256:?");
        return;
    }
    crypto_hash_sha256(hash, (const unsigned char *)text, strlen(text));
    free(text);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    snprintf(out, cap, "sha256:%s", hex);
}

static const tx_c_tool *find_c_tool(const tx_server *s, const char *name)
{
    for (size_t i = 0; i < s->opts.n_c_tools; i++)
        if (strcmp(s->opts.c_tools[i].name, name) == 0)
            return &s->opts.c_tools[i];
    return NULL;
}

/* Runs an allowed tool. Returns its result (new reference), or NULL with *etype and emsg. */
static json_t *dispatch_tool(tx_server *s, const char *name, json_t *args, const char **etype,
                             char *emsg, size_t cap)
{
    if (strcmp(name, "host.ping") == 0)
        return json_pack("{s:b, s:O}", "ok", 1, "echo", args);
    if (strcmp(name, "host.echo") == 0)
        return json_pack("{s:O}", "echo", args);
    const tx_c_tool *ct = find_c_tool(s, name);
    if (ct != NULL) {
        char *args_text = json_dumps(args, JSON_COMPACT);
        char *result_text = NULL, *message = NULL;
        if (args_text == NULL) {
            *etype = TX_ERR_INTERNAL;
            snprintf(emsg, cap, "out of memory");
            return NULL;
        }
        int rc = ct->fn(ct->ud, args_text, &result_text, &message);
        free(args_text);
        json_t *result = NULL;
        if (rc == 0 && result_text != NULL) {
            json_error_t jerr;
            result = json_loads(result_text, JSON_DECODE_ANY, &jerr);
            if (result == NULL) {
                *etype = TX_ERR_TOOL_FAILED;
                snprintf(emsg, cap, "tool %s returned invalid JSON: %s", name, jerr.text);
            }
        } else {
            *etype = TX_ERR_TOOL_FAILED;
            snprintf(emsg, cap, "tool %s failed: %s", name, message ? message : "(no message)");
        }
        free(result_text);
        free(message);
        return result;
    }
    *etype = TX_ERR_TOOL_FAILED;
    if (tx_config_host_tool(s->opts.config, name) != NULL)
        snprintf(emsg, cap, "tool %s: command host tools are not available in this build", name);
    else
        snprintf(emsg, cap, "tool %s is allowlisted but not defined (declare it under host_tools)",
                 name);
    return NULL;
}

static json_t *handle_tool_call(tx_server *s, json_t *params, const char **etype, char *emsg,
                                size_t cap)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "args");
    if (name == NULL || !tx_valid_tool_name(name)) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "tool.call needs a tool name of 1-%d characters [A-Za-z0-9_.-]",
                 TOOL_NAME_MAX);
        return NULL;
    }
    if (args == NULL || json_is_array(args)) {
        /* Lua's empty table arrives as []: treat it as the empty argument object. */
        args = json_object();
    } else if (!json_is_object(args)) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "tool.call args must be an object");
        return NULL;
    } else {
        json_incref(args);
    }
    int allowed = tx_config_allows_tool(s->opts.config, name) || find_c_tool(s, name) != NULL;
    double started = now_ms();
    json_t *result = NULL;
    s->host_calls++;
    if (!allowed) {
        *etype = TX_ERR_TOOL_NOT_ALLOWED;
        snprintf(emsg, cap, "Tool not allowlisted: %s", name);
    } else {
        result = dispatch_tool(s, name, args, etype, emsg, cap);
    }
    double duration = now_ms() - started;

    char digest[80];
    digest_json(args, digest, sizeof digest);
    json_decref(args);
    json_t *event =
        json_pack("{s:s, s:s, s:s, s:f, s:s}", "type", "host_call", "name", name, "args_digest",
                  digest, "duration_ms", duration, "outcome", result ? "ok" : "error");
    if (event != NULL && result == NULL)
        json_object_set_new(event, "error",
                            json_pack("{s:s, s:s}", "type", *etype, "message", emsg));
    json_t *step = json_deep_copy(event);
    if (step != NULL) {
        json_object_del(step, "type");
        json_object_set_new(step, "position",
                            json_integer((json_int_t)json_array_size(s->steps) + 1));
        json_object_set_new(step, "kind", json_string("host_call"));
        json_array_append_new(s->steps, step);
    }
    if (event != NULL) {
        tx_error err;
        tx_error_clear(&err);
        tx_server_record(s, event, &err);
        json_decref(event);
    }
    if (result == NULL)
        return NULL;
    json_t *data = json_pack("{s:o}", "result", result);
    return data;
}

/* Opens `rel` strictly beneath dirfd: no absolute paths, no "..", no symlinks anywhere. */
static int open_beneath(int dirfd, const char *rel)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    return (int)fd;
}

static int valid_module_path(const char *name)
{
    if (name[0] == '\0' || name[0] == '/' || strlen(name) > 256)
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '/' || c == '-'))
            return 0;
    }
    return strstr(name, "..") == NULL;
}

static json_t *handle_module_load(tx_server *s, json_t *params, const char **etype, char *emsg,
                                  size_t cap)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    *etype = TX_ERR_BAD_REQUEST;
    if (name == NULL || !valid_module_path(name)) {
        snprintf(emsg, cap, "module names use [A-Za-z0-9_./-], are relative and have no '..'");
        return NULL;
    }
    if (s->opts.proc_dir == NULL) {
        snprintf(emsg, cap, "module '%s' not found: this run has no procedure directory", name);
        return NULL;
    }
    int dirfd = open(s->opts.proc_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(emsg, cap, "cannot open procedure directory: %s", strerror(errno));
        return NULL;
    }
    /* Candidates: as given if it has an extension, else NAME.tac, NAME.lua, and the dotted
     * module form a.b -> a/b.tac, a/b.lua. */
    char dotted[257], candidates[5][264];
    int n = 0;
    size_t len = strlen(name);
    int has_ext =
        len > 4 && (strcmp(name + len - 4, ".tac") == 0 || strcmp(name + len - 4, ".lua") == 0);
    if (has_ext) {
        snprintf(candidates[n++], sizeof candidates[0], "%s", name);
    } else {
        snprintf(candidates[n++], sizeof candidates[0], "%s.tac", name);
        snprintf(candidates[n++], sizeof candidates[0], "%s.lua", name);
        if (strchr(name, '/') == NULL && strchr(name, '.') != NULL) {
            snprintf(dotted, sizeof dotted, "%s", name);
            for (char *p = dotted; *p; p++)
                if (*p == '.')
                    *p = '/';
            snprintf(candidates[n++], sizeof candidates[0], "%s.tac", dotted);
            snprintf(candidates[n++], sizeof candidates[0], "%s.lua", dotted);
        }
    }
    json_t *out = NULL;
    for (int i = 0; i < n && out == NULL; i++) {
        int fd = open_beneath(dirfd, candidates[i]);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            snprintf(emsg, cap, "module %.200s: cannot open %.250s: %s", name, candidates[i],
                     errno == EXDEV || errno == ELOOP ? "path leaves the procedure directory"
                                                      : strerror(errno));
            close(dirfd);
            return NULL;
        }
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MODULE_MAX_BYTES) {
            snprintf(emsg, cap, "module %.200s: %.250s is not a regular file of at most %u bytes",
                     name, candidates[i], MODULE_MAX_BYTES);
            close(fd);
            close(dirfd);
            return NULL;
        }
        char *buf = malloc((size_t)st.st_size + 1);
        ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
        close(fd);
        if (got != (ssize_t)st.st_size) {
            free(buf);
            snprintf(emsg, cap, "module %.200s: cannot read %.250s", name, candidates[i]);
            close(dirfd);
            return NULL;
        }
        json_t *src = json_stringn(buf, (size_t)got);
        free(buf);
        if (src == NULL) {
            snprintf(emsg, cap, "module %.200s: %.250s is not valid UTF-8", name, candidates[i]);
            close(dirfd);
            return NULL;
        }
        out = json_pack("{s:o, s:s}", "source", src, "chunkname", candidates[i]);
    }
    close(dirfd);
    if (out == NULL)
        snprintf(emsg, cap, "module '%s' not found in the procedure's directory", name);
    return out;
}

/* events.emit: the runner's events are recorded with a type the runner cannot forge. */
static json_t *handle_emit(tx_server *s, json_t *params, const char **etype, char *emsg, size_t cap)
{
    json_t *event = json_object_get(params, "event");
    if (!json_is_object(event)) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "events.emit needs an event object");
        return NULL;
    }
    const char *type = json_string_value(json_object_get(event, "type"));
    static const char *const runner_types[] = {"log",   "stage", "tool_call", "procedure_call",
                                               "alert", NULL};
    int known = 0;
    for (int i = 0; type != NULL && runner_types[i]; i++)
        known |= strcmp(type, runner_types[i]) == 0;
    if (!known) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "events.emit: the runner may not emit events of type '%s'",
                 type ? type : "(none)");
        return NULL;
    }
    tx_error err;
    tx_error_clear(&err);
    if (tx_server_record(s, event, &err) != 0) {
        *etype = TX_ERR_INTERNAL;
        snprintf(emsg, cap, "%s", err.message);
        return NULL;
    }
    return json_pack("{s:b}", "ok", 1);
}

json_t *tx_server_handle(tx_server *s, const tx_request *req)
{
    const char *etype = TX_ERR_INTERNAL;
    char emsg[1024] = "";
    json_t *data = NULL;
    if (strcmp(req->method, TX_METHOD_TOOL_CALL) == 0) {
        data = handle_tool_call(s, req->params, &etype, emsg, sizeof emsg);
    } else if (strcmp(req->method, TX_METHOD_EVENTS_EMIT) == 0) {
        data = handle_emit(s, req->params, &etype, emsg, sizeof emsg);
    } else if (strcmp(req->method, TX_METHOD_MODULE_LOAD) == 0) {
        data = handle_module_load(s, req->params, &etype, emsg, sizeof emsg);
    } else if (strcmp(req->method, TX_METHOD_RUN_FINISH) == 0) {
        json_t *result = json_object_get(req->params, "result");
        if (json_is_object(result) && s->result == NULL) {
            s->result = json_incref(result);
            data = json_pack("{s:b}", "ok", 1);
        } else {
            etype = TX_ERR_BAD_REQUEST;
            snprintf(emsg, sizeof emsg, "run.finish needs a result object, once");
        }
    } else {
        etype = TX_ERR_METHOD_NOT_FOUND;
        snprintf(emsg, sizeof emsg, "Unknown method: %s", req->method);
    }
    if (req->id == NULL) {
        json_decref(data);
        return NULL;
    }
    if (data != NULL)
        return tx_msg_done(req->id, data);
    return tx_msg_error(req->id, etype, emsg);
}

/* ---- in-process channel ---------------------------------------------------------------- */

static int direct_emit(void *ud, json_t *event, tx_error *err)
{
    tx_server *s = ud;
    tx_request req = {NULL, NULL, TX_METHOD_EVENTS_EMIT, NULL};
    req.params = json_pack("{s:O}", "event", event);
    if (req.params == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    json_t *resp = tx_server_handle(s, &req);
    json_decref(resp);
    json_decref(req.params);
    return 0;
}

static int direct_call(void *ud, const char *method, json_t *params, tx_reply *reply, tx_error *err)
{
    tx_server *s = ud;
    tx_request req = {NULL, NULL, method, params};
    req.id = json_integer(1);
    if (req.id == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    json_t *resp = tx_server_handle(s, &req);
    json_decref(req.id);
    if (resp == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    const char *event = json_string_value(json_object_get(resp, "event"));
    if (event != NULL && strcmp(event, "done") == 0) {
        reply->data = json_incref(json_object_get(resp, "data"));
    } else {
        json_t *e = json_object_get(resp, "error");
        snprintf(reply->error_type, sizeof reply->error_type, "%s",
                 json_string_value(json_object_get(e, "type")) ?: "InternalError");
        snprintf(reply->error_message, sizeof reply->error_message, "%s",
                 json_string_value(json_object_get(e, "message")) ?: "");
    }
    json_decref(resp);
    return 0;
}

tx_channel tx_server_channel(tx_server *s)
{
    tx_channel ch = {s, direct_emit, direct_call};
    return ch;
}
