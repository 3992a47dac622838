/*
 * evidence.h - the run directory: stream.jsonl, steps.json, result.json (docs/evidence.md).
 *
 * Only the trusted side writes here. stream.jsonl gets one JSON object per line, written with
 * a single write(2) per event so a crash never leaves half an event before a whole one; the
 * JSON files are replaced atomically (temp file, fsync, rename, fsync of the directory).
 */
#ifndef TX_EVIDENCE_H
#define TX_EVIDENCE_H

#include <jansson.h>
#include <stdint.h>

#include "tx_error.h"

typedef struct tx_evidence tx_evidence;

/* Creates run_dir (and missing parents, mode 0755; the run dir itself 0700) and opens
 * stream.jsonl for appending. Every component is opened from the current directory (or "/")
 * without following symbolic links: a link anywhere in the path is refused (TACTUS_EUSAGE)
 * and the directory is kept open, so later writes cannot be redirected. A new run (resume ==
 * 0) fails if run_dir exists and is not empty (run ids are unique; a directory someone else
 * filled is never taken over); a resumed run appends to it and continues its numbering. */
int tx_evidence_open(const char *run_dir, int resume, tx_evidence **out, tx_error *err);

/* Appends one event: adds "seq" (1, 2, ...) and "ts" (UTC, ISO 8601 with milliseconds) to a
 * copy of `event` (borrowed) and writes it as one line. */
int tx_evidence_event(tx_evidence *ev, json_t *event, tx_error *err);

/* Atomically replaces <run_dir>/<name> with the JSON value (pretty-printed). Readers never see
 * a half-written file; the file is not flushed to disk (see tx_evidence_sync). */
int tx_evidence_write_json(tx_evidence *ev, const char *name, json_t *value, tx_error *err);

/* Produces the next element of an array being written: 1 with *out a new reference, 0 at the
 * end, -1 with err set to give up. */
typedef int (*tx_evidence_next)(void *ud, json_t **out, tx_error *err);

/*
 * Atomically replaces <run_dir>/<name> with a JSON array of the elements next() produces, in
 * the layout tx_evidence_write_json gives an array, written one element at a time: only one
 * element is ever in memory (steps.json of a long journal). A failing next() leaves the old
 * file in place and is the error.
 */
int tx_evidence_write_array(tx_evidence *ev, const char *name, tx_evidence_next next, void *ud,
                            tx_error *err);

/* Bytes in stream.jsonl (including what earlier attempts of the run wrote): the `disk` limit
 * counts them. */
uint64_t tx_evidence_stream_bytes(const tx_evidence *ev);

/* The first stream.jsonl write that failed ("cannot write DIR/stream.jsonl: CAUSE"), or NULL. */
const char *tx_evidence_stream_failure(const tx_evidence *ev);

/*
 * Marks a run's result whose evidence could not be written completely (why: the failed write,
 * e.g. "cannot write .../steps.json: No space left on device"): status becomes "system" and
 * error an EvidenceError whose message names the file, the cause and the status the run itself
 * ended with; output becomes null (result.json's output is the output of an "ok" run only).
 * A second failure is added to the same message. Changes result in place.
 */
void tx_evidence_failed(json_t *result, const tx_error *why);

/*
 * Makes the run directory's entry, the directory and run.json durable. The broker calls it
 * once, before the run's first journal record is written: until a record exists a crash loses
 * nothing worth keeping, so runs that journal nothing never wait for the disk. The derived
 * files (steps.json, result.json) are rebuilt from the journal by `tactus resume`.
 */
int tx_evidence_sync(tx_evidence *ev, tx_error *err);

/* The run directory's path. */
const char *tx_evidence_dir(const tx_evidence *ev);

/* The open run directory (owned by ev). */
int tx_evidence_dir_fd(const tx_evidence *ev);

/* Closes stream.jsonl and frees ev. NULL is allowed. */
void tx_evidence_close(tx_evidence *ev);

/*
 * run.json is authenticated: tx_run_record_seal adds "mac", a crypto_auth (HMAC-SHA512-256)
 * of the record (without "mac", compact, keys sorted) under this host's run key (TACTUS_HOME/
 * run.key, created on first use). tx_run_record_verify checks it and that the record is run
 * `run_id`'s; a record another host wrote, or one changed since, fails with TACTUS_EUSAGE and
 * a message saying which. Without HOME or TACTUS_HOME (an embedding program) the record is
 * left unsealed, so it can never be resumed by the CLI.
 */
int tx_run_record_seal(json_t *run, tx_error *err);
int tx_run_record_verify(const json_t *run, const char *run_id, tx_error *err);

/* Writes the current UTC time as "2026-11-23T16:32:26.123Z" into buf (at least 32 bytes). */
void tx_utc_now(char *buf, size_t cap);

/* mkdir -p with the given mode for each created component. */
int tx_mkdirs(const char *path, int mode, tx_error *err);

#endif
