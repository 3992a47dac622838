/*
 * server.h - the broker's request handler: the one place that decides what a runner may do.
 *
 * It answers the runner's requests (docs/protocol.md): events are redacted and written to the
 * evidence; tool calls are checked against the allowlist on every call (the runner's word is
 * never trusted) and run here, on the trusted side; module loads read only .tac/.lua files
 * under the procedure's directory. It does not know about sockets: supervise.c feeds it frames,
 * the in-process channel calls it directly.
 */
#ifndef TX_SERVER_H
#define TX_SERVER_H

#include <jansson.h>

#include "channel.h"
#include "config.h"
#include "evidence.h"
#include "journal.h"
#include "protocol.h"
#include "tokens.h"
#include "tactus.h"

#define TX_METHOD_MODULE_LOAD "module.load" /* params {name} -> done {source, chunkname} */

/* A C host tool registered through the embedding API. */
typedef struct tx_c_tool {
    char *name;
    tactus_tool_fn fn;
    void *ud;
} tx_c_tool;

typedef struct tx_server_opts {
    const char *run_id;
    const char *proc_dir;     /* directory of the .tac: module.load root, host tool cwd */
    const tx_config *config;  /* allowlist and host tool definitions */
    const tx_c_tool *c_tools; /* registered C tools (always allowed) */
    size_t n_c_tools;
    tx_evidence *evidence;    /* NULL: no run directory */
    tactus_event_fn on_event; /* NULL: none */
    void *event_ud;
    tx_journal *journal;          /* NULL: an in-memory journal (no durability) */
    int interactive;              /* Human.* may prompt on this process's terminal */
    tx_tokens *tokens;            /* phase tokens (hashes); NULL: phases are not enforced */
    int check_only;               /* replay --check: refuse every new journal record */
    const char *tactus_exe;       /* the tactus binary for `sandbox: true` tools; NULL: this one */
    const char *journal_path;     /* with journal NULL: create this journal at the first record */
    tx_journal_meta journal_meta; /* its header (the strings must outlive the server) */
} tx_server_opts;

typedef struct tx_server tx_server;

/* Creates a server; opts is copied (the pointed-to objects must outlive the server). */
tx_server *tx_server_new(const tx_server_opts *opts, tx_error *err);
void tx_server_free(tx_server *s);

/* Handles one request. Returns the response message (new reference), or NULL for a
 * notification. Never fails: problems become error responses. */
json_t *tx_server_handle(tx_server *s, const tx_request *req);

/* Records a host-side event (run_started, finished, ...): evidence and callback. `event` is
 * borrowed. Returns 0, or -1 if the evidence could not be written. */
int tx_server_record(tx_server *s, json_t *event, tx_error *err);

/*
 * Decrypts the secrets the configured host tools name (from the store in TACTUS_HOME) and
 * registers every stored secret for redaction. Does nothing when no tool names a secret and no
 * store exists. Call once, in the broker process, after the runner has been started (so the
 * runner is never a copy of a process that held a decrypted secret).
 */
int tx_server_load_secrets(tx_server *s, tx_error *err);

/* Replaces every known secret value inside `value` with [REDACTED:NAME]. */
int tx_server_redact(const tx_server *s, json_t *value);

/*
 * Bounds every wait of the broker's on the runner's behalf (host tools, Human.* on the terminal)
 * by the run's deadline, CLOCK_MONOTONIC in ms (0: none). A request cut by it fails with error
 * type "Timeout" and is not journaled; tx_server_deadline_hit then says where the run was. With
 * adopt_orphans, this process is the host tools' child subreaper (see hosttools.h).
 */
void tx_server_set_deadline(tx_server *s, double deadline_ms, int adopt_orphans);

/* NULL while the deadline has not cut a request; else what the broker was doing then, e.g.
 * "host tool slow, called at proc.tac:4". */
const char *tx_server_deadline_hit(const tx_server *s);

/* The result the runner delivered with run.finish (new reference), or NULL if none came. */
json_t *tx_server_take_result(tx_server *s);

/* Writes <run dir>/steps.json, the journal as a JSON array, one record at a time from the
 * journal file (tx_evidence_write_array): the broker never holds every record at once. */
int tx_server_write_steps(const tx_server *s, tx_evidence *ev, tx_error *err);

/* When a broker-side limit (`journal`, `disk`) stopped the run, rewrites `result` to status
 * `limit` with an error naming it, whatever the runner reported, and returns 1; else 0. */
int tx_server_apply_limit(const tx_server *s, json_t *result);

/* True once a broker-side limit stopped the run: every request but run.finish is refused, and
 * the supervisor may end a runner that does not stop. */
int tx_server_stopped(const tx_server *s);

/* Adds limits.journal and limits.disk ({used, allowed}) to a result's `limits` object. */
void tx_server_limits(const tx_server *s, json_t *limits);

/*
 * Takes a human's answer for a resumed run: the journal's last record must be a pending Human.*
 * request and the answer must fit its kind ({"approve": true}, {"reject": true}, {"text":
 * "..."} or {"json": value}); otherwise an error and nothing changes. The answer is written
 * only when the replay reaches that request (journal.answer), so a resume that diverges first
 * leaves the journal exactly as it was.
 */
int tx_server_answer(tx_server *s, json_t *answer, tx_error *err);

/* The check tx_server_answer makes, on a journal's last record `last` (NULL: none), without a
 * server: 0 when `answer` is accepted for it, else -1 with err (TACTUS_EUSAGE) saying why. Lets
 * a resume refuse an answer before it opens the journal for writing. */
int tx_answer_check(const json_t *last, const char *run_id, json_t *answer, tx_error *err);

/* Finishes or forgets an answer a crash interrupted (the run directory's answer.json, see
 * apply_answer in server.c): appends the answered record when the crash came after the pending
 * one was cut, else leaves the journal as it is; removes answer.json. Call once after opening
 * a resumed run's journal. Fills note with what happened ("" when there was nothing). Returns 0
 * or -1 with err set (the append failed). */
int tx_server_recover_answer(tx_server *s, char *note, size_t cap, tx_error *err);

/* The journal in use (NULL while none exists yet), for the caller to sync. */
tx_journal *tx_server_journal(const tx_server *s);

/* Records in the journal. */
long tx_server_journal_count(const tx_server *s);

/* Host calls answered so far. */
long tx_server_host_calls(const tx_server *s);

/* A channel that calls the server directly (in-process runs). */
tx_channel tx_server_channel(tx_server *s);

#endif
