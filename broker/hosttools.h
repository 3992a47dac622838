/*
 * hosttools.h - runs the sidecar's command host tools (`host_tools:` in docs/sidecar.md) for the
 * broker, outside the procedure's sandbox. See docs/host-tools.md for the tool author's side.
 *
 * One call = one child process:
 *   - argv exactly as declared, started with execve: no shell, so quotes, pipes, `$VAR` and
 *     globs mean nothing. argv[0] without '/' is searched in the fixed PATH TX_HOSTTOOL_PATH
 *     (never the broker's own PATH); with a '/', it is used as is, relative to the tool's cwd.
 *   - stdin: the call's arguments as JSON, then end of file. stdout: the result, one JSON value.
 *     stderr: kept for error messages only (last TX_HOSTTOOL_STDERR_KEEP bytes).
 *   - environment: exactly PATH=TX_HOSTTOOL_PATH, LANG=C.UTF-8, HOME (only if the broker has
 *     one), TACTUS_RUN_ID, TACTUS_TOOL, TACTUS_IDEMPOTENCY_KEY and one NAME=value per secret the
 *     tool names. Nothing else of the broker's environment reaches the tool.
 *   - its own session and process group (setsid), no inherited descriptors beyond 0/1/2,
 *     default signal dispositions and an empty signal mask, PR_SET_PDEATHSIG SIGKILL.
 *   - the call ends when the tool process exits, times out, reaches the run's deadline, or
 *     prints more than max_output bytes; in every case every process the tool started is then
 *     killed with SIGKILL and the tool reaped, so nothing it left in the background survives
 *     the call. "Every process" is found in /proc: the tool's session, the descendants of any
 *     of them (whatever session or group they moved to), and, with adopt_orphans, the orphans
 *     the kernel reparented to this (subreaper) process, which is what catches a daemon that
 *     double-forked and called setsid. Killing repeats until none is alive (at most 2 s).
 *
 * Processes and threads: the tool is started with fork + execve. Between the two the child
 * makes only async-signal-safe calls (no malloc, no stdio: everything it needs is prepared by
 * the parent, and it only copies bytes into memory that was allocated before the fork), so the
 * call is also correct when an embedding program runs the broker in a multi-threaded process.
 * The call blocks its thread until the tool is done. It does not install signal handlers or
 * change the process's signal dispositions: SIGPIPE from writing to a tool that stopped reading
 * is blocked in the calling thread for the duration of that one write, and a SIGPIPE it raised
 * is consumed before the mask is restored. Note that PR_SET_PDEATHSIG fires when the *thread*
 * that forked exits, which in a multi-threaded embedder may be before the process does.
 */
#ifndef TX_HOSTTOOLS_H
#define TX_HOSTTOOLS_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "tx_error.h"

struct tx_redactor;

/* The PATH a tool sees, and where a bare argv[0] is searched. */
#define TX_HOSTTOOL_PATH "/usr/local/bin:/usr/bin:/bin"

/* Bytes of a tool's stderr kept (the last ones); about 1 KiB of them end up in error. */
#define TX_HOSTTOOL_STDERR_KEEP 4096

/* Error types in tx_hosttool_result.error_type. */
#define TX_HOSTTOOL_FAILED "ToolFailed"            /* non-zero exit, signal, bad cwd */
#define TX_HOSTTOOL_TIMEOUT "ToolTimeout"          /* ran longer than timeout_ms */
#define TX_HOSTTOOL_TOO_LARGE "ToolOutputTooLarge" /* more than max_output bytes on stdout */
#define TX_HOSTTOOL_BAD_OUTPUT "ToolBadOutput"     /* exit 0 but stdout is not one JSON value */
#define TX_HOSTTOOL_NOT_FOUND "ToolNotFound"       /* execve failed: missing, not executable */

/* One secret for the tool's environment. The value is borrowed, may hold any bytes but NUL,
 * and is never copied by the calling process (only by the forked child, into its own memory). */
typedef struct tx_tool_secret {
    const char *name;
    const unsigned char *value;
    size_t len;
} tx_tool_secret;

/* Everything a call needs; all pointers are borrowed for the duration of tx_hosttool_run. */
typedef struct tx_hosttool_call {
    const tx_host_tool *tool; /* from runtime/config.h: argv, timeout_ms, max_output, cwd */
    const char *proc_dir;     /* cwd = tool->cwd resolved against proc_dir; default proc_dir */
    const char *args_json;    /* written to the tool's stdin, then stdin is closed */
    size_t args_len;
    const char *run_id;            /* -> TACTUS_RUN_ID */
    const char *idempotency_key;   /* -> TACTUS_IDEMPOTENCY_KEY */
    const tx_tool_secret *secrets; /* exactly the secrets tool->secrets names, each once, */
    size_t nsecrets;               /* already decrypted by the caller */
    /* Optional: masks secrets in what the tool printed before it is cut to size (the stderr
     * tail in error) and in the parsed result; NULL masks nothing. */
    const struct tx_redactor *redactor;
    double deadline_ms; /* the run's deadline, CLOCK_MONOTONIC in ms; 0: none. The call ends
                           there even when the tool's own timeout is later. */
    int adopt_orphans;  /* 1: this process is a child subreaper (PR_SET_CHILD_SUBREAPER) and
                           starts no other child while the call runs, so every child that
                           appears meanwhile is an orphan of the tool's and is killed with it */
} tx_hosttool_call;

/* The outcome of a call that ran. Either result is set (success) or error_type/error are. */
typedef struct tx_hosttool_result {
    json_t *result;      /* parsed stdout (any JSON value) on success, owned by the caller;
                            NULL on failure */
    char error_type[64]; /* one of TX_HOSTTOOL_* above; "" on success */
    char error[1024];    /* "tool NAME ...": what happened (exit status / signal / limit) and
                            the last ~1 KiB of stderr. Valid UTF-8, control characters other
                            than newline and tab replaced by '?'. Without a redactor it may
                            contain anything the tool printed, secrets included: redact it
                            before recording it. */
    int exit_code;       /* the tool's exit status; -1 if it was killed or never started */
    int run_deadline;    /* 1: ended (or not started) at c->deadline_ms, error_type
                            TX_HOSTTOOL_TIMEOUT: the run, not the tool, is out of time */
    double duration_ms;  /* wall-clock time from fork to reaping the tool */
} tx_hosttool_result;

/*
 * Runs c->tool once with c's arguments and fills *out (which the function initialises first).
 *
 * Returns 0 when the call was carried out, whether the tool succeeded (out->result set) or
 * failed in one of the ways listed by TX_HOSTTOOL_* (out->error_type and out->error set).
 * Returns -1 with err set only when the broker itself could not make the call: an invalid
 * call (NULL fields, empty argv, zero timeout or max_output, secrets that do not match the
 * tool's list, a secret value with a NUL byte, a secret named like a reserved variable, or a
 * tool with `sandbox: true`, which the caller must wrap in `tactus sandbox` itself and pass
 * as an unsandboxed argv) is TACTUS_EUSAGE; pipe, fork or memory failure is TACTUS_ESYSTEM. On -1,
 * out->result is NULL.
 */
int tx_hosttool_run(const tx_hosttool_call *c, tx_hosttool_result *out, tx_error *err);

/*
 * For a process that set PR_SET_CHILD_SUBREAPER and whose every child is expendable (the CLI's
 * host process once its broker has ended): kills every child of this process and every
 * descendant of those, and reaps the children, repeating until none is alive (at most 2 s).
 * This is what ends a host tool's processes when the broker itself was killed: the tool dies
 * of PR_SET_PDEATHSIG and whatever it started is reparented here. Returns how many were still
 * alive at the end (0 normally).
 */
size_t tx_hosttool_reap_children(void);

#endif
