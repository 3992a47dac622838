/*
 * tactus.h - embed the tactus runtime: run Lua 5.4 procedures (.tac files) durably and safely.
 *
 * Conventions (docs/c-api.md has the whole story):
 *  - Handles are opaque. Whoever gets a handle from a *_new or *_run call frees it with the
 *    matching *_free call.
 *  - Every call that can fail returns a tactus_status; TACTUS_OK is 0. The message of the last
 *    failure on a runtime is tactus_errmsg(rt). Nothing in the library calls exit() or abort()
 *    because of bad input.
 *  - No global state: two runtimes never share anything. A runtime is thread-compatible: use
 *    each one from one thread at a time.
 *  - Strings passed in are copied; strings handed out stay valid until their owner is freed.
 */
#ifndef TACTUS_H
#define TACTUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TACTUS_API __attribute__((visibility("default")))
#else
#define TACTUS_API
#endif

/* Status of a call or of a run. The numbers are also the `tactus` CLI's exit codes. */
typedef enum tactus_status {
    TACTUS_OK = 0,        /* finished; output is valid */
    TACTUS_EPROC = 1,     /* the procedure failed: a Lua error, bad input or bad output */
    TACTUS_EUSAGE = 2,    /* bad usage or configuration: argument, sidecar, unreadable .tac */
    TACTUS_ELIMIT = 3,    /* a resource limit was reached (the result names which) */
    TACTUS_ETIMEOUT = 4,  /* the wall-clock timeout was reached */
    TACTUS_SUSPENDED = 5, /* waiting for a human; resume later */
    TACTUS_ENONDET = 6,   /* replay diverged from the journal */
    TACTUS_ESYSTEM = 7    /* the operating system refused something (fork, disk, sandbox) */
} tactus_status;

/* Where the Lua VM runs. */
typedef enum tactus_isolation {
    /* In the calling thread. Only the limits the VM enforces itself apply: a long single C call
     * (a pathological string.find, say) cannot be interrupted. Never use for untrusted code. */
    TACTUS_INPROCESS = 0,
    /* In a child process, killed at the wall-clock timeout. */
    TACTUS_CHILD = 1,
    /* In a child process inside the native sandbox (namespaces, seccomp, rlimits). */
    TACTUS_SANDBOX = 2
} tactus_isolation;

typedef struct tactus_runtime tactus_runtime;
typedef struct tactus_result tactus_result;

/* Same contract as lua_Alloc: nsize == 0 frees and returns NULL; otherwise (re)allocates. */
typedef void *(*tactus_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

/* Receives each run event as one line of JSON (the same objects as stream.jsonl). */
typedef void (*tactus_event_fn)(void *ud, const char *event_json);

/*
 * A host tool implemented in C, callable from Lua with Host.call(name, args). args_json is a
 * JSON object. On success set *result_json to a malloc'd JSON text and return 0; on failure
 * set *error_message to a malloc'd message (or leave it NULL) and return -1. The runtime
 * frees both with free(). Tools run on the trusted side, never inside the sandbox.
 */
typedef int (*tactus_tool_fn)(void *ud, const char *args_json, char **result_json,
                              char **error_message);

/* The library version, e.g. "0.1.0". */
TACTUS_API const char *tactus_version(void);

/* "ok", "error", "usage", "limit", "timeout", "suspended", "nondeterminism", "system". */
TACTUS_API const char *tactus_status_name(tactus_status status);

/* A new runtime using malloc, or NULL if out of memory. */
TACTUS_API tactus_runtime *tactus_new(void);

/* A new runtime whose memory (including every Lua VM it runs in-process) comes from alloc. */
TACTUS_API tactus_runtime *tactus_new_with_alloc(tactus_alloc_fn alloc, void *ud);

/* Frees the runtime. Results it handed out stay valid. NULL is allowed. */
TACTUS_API void tactus_free(tactus_runtime *rt);

/* The message of the last failed call on rt ("" if none). Valid until the next call on rt. */
TACTUS_API const char *tactus_errmsg(const tactus_runtime *rt);

/*
 * Sets a named limit for later runs: "instructions", "memory", "string", "output", "depth",
 * "host_calls", "timeout" (milliseconds), and for sandboxed runs "cpus", "pids", "files",
 * "file_size", "tmp". 0 means unlimited. TACTUS_EUSAGE for an unknown name.
 */
TACTUS_API tactus_status tactus_set_limit(tactus_runtime *rt, const char *name, uint64_t value);

/*
 * Chooses where runs execute (default TACTUS_INPROCESS). TACTUS_CHILD and TACTUS_SANDBOX start
 * the runner by exec of the `tactus` binary (never a bare fork, so they are safe in
 * multi-threaded programs); the calling process stays the broker, so C tools registered here
 * run in it.
 */
TACTUS_API tactus_status tactus_set_isolation(tactus_runtime *rt, tactus_isolation isolation);

/*
 * The `tactus` binary used to start child and sandboxed runners. NULL (the default) means the
 * installed one (<prefix>/bin/tactus). Checked when a run starts.
 */
TACTUS_API tactus_status tactus_set_runner(tactus_runtime *rt, const char *path);

/*
 * Directory under which each run writes its evidence (<dir>/<run-id>/stream.jsonl, steps.json,
 * result.json). NULL (the default) writes no evidence.
 */
TACTUS_API tactus_status tactus_set_runs_dir(tactus_runtime *rt, const char *dir);

/* Calls fn(ud, event_json) for every event of later runs. NULL fn removes the callback. */
TACTUS_API void tactus_set_event_callback(tactus_runtime *rt, tactus_event_fn fn, void *ud);

/* Merges a sidecar-format YAML file (tools, host_tools, limits, ...) into the runtime's config. */
TACTUS_API tactus_status tactus_load_config(tactus_runtime *rt, const char *path);

/*
 * Registers a C host tool. The name must match [A-Za-z0-9_.-]{1,128}. Registering a tool also
 * allows it: procedures may call it without a sidecar `tools:` entry.
 */
TACTUS_API tactus_status tactus_register_tool(tactus_runtime *rt, const char *name,
                                              tactus_tool_fn fn, void *ud);

/*
 * Runs the procedure in `path` with input_json (a JSON object, or NULL for {}). On return
 * *result is set (also on failure of the procedure itself) unless the call could not start the
 * run at all, in which case *result is NULL and tactus_errmsg says why. The returned status is
 * the run's status.
 */
TACTUS_API tactus_status tactus_run_file(tactus_runtime *rt, const char *path,
                                         const char *input_json, tactus_result **result);

/* Like tactus_run_file for source text; `name` is used in messages ("name:12: ..."). */
TACTUS_API tactus_status tactus_run_string(tactus_runtime *rt, const char *name, const char *source,
                                           size_t len, const char *input_json,
                                           tactus_result **result);

/* The run's status. */
TACTUS_API tactus_status tactus_result_status(const tactus_result *r);

/* The procedure's output as JSON text, or NULL when the run did not finish ok. */
TACTUS_API const char *tactus_result_output(const tactus_result *r);

/* The error message ("proc.tac:12: boom"), or NULL when the run finished ok. */
TACTUS_API const char *tactus_result_error(const tactus_result *r);

/* The whole result object, exactly as written to result.json. */
TACTUS_API const char *tactus_result_json(const tactus_result *r);

/* The run id. */
TACTUS_API const char *tactus_result_run_id(const tactus_result *r);

/* Frees a result. NULL is allowed. */
TACTUS_API void tactus_result_free(tactus_result *r);

/* ---- suspended runs: what they wait for, and resuming them ----------------------------------
 *
 * A run that returns TACTUS_SUSPENDED waits for a human (Human.approve, Human.input,
 * Human.review, Human.escalate). With a runs directory set (tactus_set_runs_dir) its evidence
 * stays on disk and it can be continued later, by this program or another one on the same host,
 * with tactus_resume(). The same holds for an interrupted run (the process was killed, the
 * machine stopped): tactus_resume() without an answer continues it from its journal.
 *
 * `run` names a run the way `tactus resume` does: a run id ([A-Za-z0-9._-]{1,128}) under the
 * runtime's runs directory, or, when it contains a '/', the path of the run's directory itself.
 * The run's run.json must carry this host's MAC (TACTUS_HOME/run.key; the program needs HOME or
 * TACTUS_HOME set when the run starts, else the run is not resumable at all).
 */

/* The question a suspended run waits for. Opaque; free with tactus_question_free. */
typedef struct tactus_question tactus_question;

/*
 * Sets *question to what run `run` waits for. TACTUS_OK with *question set, or an error with
 * *question NULL and tactus_errmsg saying why: TACTUS_EUSAGE for a bad or unknown run, a run
 * this host did not create or whose run.json was changed, a run whose journal another process
 * holds, or a run that is not waiting for an answer. Nothing in the run changes.
 */
TACTUS_API tactus_status tactus_question_get(tactus_runtime *rt, const char *run,
                                             tactus_question **question);

/* The kind of question: "approve", "input", "review" or "escalate". */
TACTUS_API const char *tactus_question_kind(const tactus_question *q);

/* The message the procedure gave (may be ""). Procedure text: escape it before showing it on a
 * terminal. */
TACTUS_API const char *tactus_question_message(const tactus_question *q);

/* The `options` the procedure gave, as JSON text, or NULL when it gave none. */
TACTUS_API const char *tactus_question_options(const tactus_question *q);

/* The `default` the procedure gave, as JSON text, or NULL when it gave none. */
TACTUS_API const char *tactus_question_default(const tactus_question *q);

/* The call site: the procedure file as the run names it (e.g. "approval.tac") and the line. */
TACTUS_API const char *tactus_question_file(const tactus_question *q);
TACTUS_API int tactus_question_line(const tactus_question *q);

/* The whole request as JSON text: {"kind", "message", "default", "options", ...}. */
TACTUS_API const char *tactus_question_json(const tactus_question *q);

/* The run id the question belongs to. */
TACTUS_API const char *tactus_question_run_id(const tactus_question *q);

/* Frees a question. NULL is allowed. */
TACTUS_API void tactus_question_free(tactus_question *q);

/* An answer for tactus_resume. Which kinds fit which question: see tactus_resume. */
typedef enum tactus_answer_kind {
    TACTUS_ANSWER_NONE = 0, /* no answer: continue an interrupted run, or suspend again */
    TACTUS_ANSWER_APPROVE = 1,
    TACTUS_ANSWER_REJECT = 2,
    TACTUS_ANSWER_TEXT = 3, /* value: the text (UTF-8) */
    TACTUS_ANSWER_JSON = 4  /* value: a JSON text, any value (the answer as given) */
} tactus_answer_kind;

/*
 * Continues run `run` from its journal, like `tactus resume`: the procedure runs again from
 * the top and every journaled step returns its recorded result. The procedure file, input and
 * isolation are those recorded in the run's authenticated run.json (the isolation is the
 * stricter of the recorded one and the runtime's); limits, tools and C tools are the runtime's,
 * as for tactus_run_file, except that a run started with `tactus run --policy FILE` uses that
 * policy file, narrowed by the runtime's limits.
 *
 * `kind`/`value` answer the question the run waits for: APPROVE or REJECT for "approve" and
 * "escalate"; TEXT for "input"; APPROVE, REJECT or TEXT (the feedback) for "review"; JSON for
 * any. `value` is required for TEXT and JSON and must be NULL otherwise.
 *
 * Returns like tactus_run_file: the run's status with *result set, or, when the run could not
 * be resumed at all, *result NULL, the run's files unchanged and tactus_errmsg saying why:
 * TACTUS_EUSAGE for a bad argument; an unknown run; a run this host did not create or whose
 * run.json was changed; a finished run (status ok or error: it is not changed); an answer
 * that does not fit the question, or an answer to a run that is not waiting for one; a run
 * whose journal is held by another process. TACTUS_ESYSTEM when the runner cannot be started.
 */
TACTUS_API tactus_status tactus_resume(tactus_runtime *rt, const char *run, tactus_answer_kind kind,
                                       const char *value, tactus_result **result);

#ifdef __cplusplus
}
#endif

#endif
