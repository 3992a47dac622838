/*
 * run.h - one run from the trusted side: run id, run directory, broker, runner, result.
 *
 * tx_run() is what `tactus run` and tactus_run_file() both call. It creates the evidence,
 * starts the runner where the isolation mode says (in this thread, in a forked child, or in a
 * sandboxed child), serves the runner's requests until it finishes, enforces the wall-clock
 * timeout from outside the VM (a child that overruns is killed), and writes result.json.
 */
#ifndef TX_RUN_H
#define TX_RUN_H

#include <jansson.h>

#include "config.h"
#include "server.h"
#include "tactus.h"

typedef struct tx_run_spec {
    const char *source;
    size_t source_len;
    const char *chunkname; /* name in messages, e.g. the path as given */
    const char *proc_dir;  /* directory of the .tac (modules, host tool cwd); may be NULL */
    json_t *input;         /* borrowed object, or NULL */
    json_t *params;        /* borrowed object of strings (`--param k=v`), or NULL */
    const tx_config *config;
    tactus_isolation isolation;
    const char *runs_dir; /* NULL: no evidence */
    const char *run_id;   /* NULL: generate one */
    tactus_alloc_fn alloc;
    void *alloc_ud;
    const tx_c_tool *c_tools;
    size_t n_c_tools;
    tactus_event_fn on_event;
    void *event_ud;
    int validate_only;
    /* 1: the broker is its own process, forked after the runner (the CLI). 0: the calling
     * process is the broker (the library: its C tools live here). */
    int separate_broker;
    int resume;              /* continue the run `run_id` from its journal */
    json_t *answer;          /* with resume: the human's answer to the pending request, or NULL:
                              * {"approve": true} | {"reject": true} | {"text": "..."} | {"json": v} */
    const char *policy;      /* the --policy file, recorded in run.json for resume; NULL if none */
    int interactive;         /* Human.* may ask on the terminal (CLI in the foreground) */
    int test_mode;           /* `tactus test`: the output is the specifications' report */
    const char *test_filter; /* with test_mode: scenarios whose name contains this */
    const char *check_dir;   /* replay --check: the run directory whose journal the procedure
                              * must replay exactly, executing nothing; NULL otherwise */
    const char *rerun_of;    /* `resume --rerun`: the finished run this new run repeats, recorded
                              * in run.json and the run_started event; NULL otherwise */
    const char *runner_exe;  /* non-NULL: start runners by exec of this `tactus` binary (the
                              * library: safe in multi-threaded hosts); NULL: fork (the CLI) */
} tx_run_spec;

/*
 * Runs and returns the result object (the content of result.json), never NULL unless out of
 * memory; problems of the run itself are in its "status" and "error". Returns NULL with err set
 * when the run could not be started at all (bad run id, run directory not writable, fork
 * failed).
 */
json_t *tx_run(const tx_run_spec *spec, tx_error *err);

/* Maps a result's "status" string to its tactus_status. */
tactus_status tx_status_from_string(const char *status);

/* Fills buf with a new run id: "20261123-163226-1a2b3c4d5e6f". */
void tx_new_run_id(char *buf, size_t cap);

/* True if id is a valid run id: [A-Za-z0-9._-]{1,128}, not "." or "..". */
int tx_valid_run_id(const char *id);

#endif
