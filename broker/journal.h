/*
 * journal.h - the append-only run journal: the storage half of durable execution
 * (docs/durability.md).
 *
 * One file per run, <run_dir>/journal.jsonl. Every line is a compact JSON object, a tab, the
 * 32 lowercase hex digits of a 16-byte BLAKE2b hash (libsodium crypto_generichash) of the JSON
 * bytes, and '\n'. Line 1 is the header
 *   {"journal":"tactus","format":1,"run_id":...,"source_digest":...,"input_digest":...,
 *    "version":...,"created_at":"2026-01-01T00:00:00.000Z"}
 * and each further line is one record
 *   {"pos":N,"kind":"...","name":...,"site":...,"args":...,"result":...,"error":...,"t":...,
 *    "ms":...[,"pending":bool][,"parent":int,"seq":int]}
 * with pos = 1, 2, 3, ... in file order. The journal never interprets `result`.
 *
 * Crash model: a record is appended with one write(2) of the whole line; the tail of the file
 * can therefore only ever be a prefix of one line (plus, after a power loss, possibly garbage or
 * zeros). Open cuts such a tail off and says so; damage anywhere before the last valid line is
 * an error that leaves the file alone.
 *
 * A tx_journal is not thread-safe: one thread uses it at a time. There is no global state; the
 * fault-injection setting (TACTUS_CRASH_AT) is read once per tx_journal_open.
 */
#ifndef TX_JOURNAL_H
#define TX_JOURNAL_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "tx_error.h"

/* Largest journal file tx_journal_open reads (1 GiB); bigger files are refused. */
#define TX_JOURNAL_MAX_BYTES (1L << 30)

/* Batch mode syncs once this many records or this much time has accumulated. */
#define TX_JOURNAL_BATCH_RECORDS 64
#define TX_JOURNAL_BATCH_NS 5000000L

/* While open, the file is kept up to this many bytes ahead of its last record by a reserve of
 * zero bytes, so that a durable append overwrites allocated blocks instead of growing the file
 * (docs/durability.md, "The reserve"). Trailing zeros are therefore normal in a live or crashed
 * journal; close and truncate cut them. 0 turns the reserve off (plain appends). */
#define TX_JOURNAL_RESERVE_STEP (64 * 1024)

typedef struct tx_journal tx_journal;

/* The header's identity fields. run_id is a non-empty string; the others may be NULL (written
 * as JSON null). Digests are opaque strings to the journal; the caller compares them. */
typedef struct tx_journal_meta {
    const char *run_id, *source_digest, *input_digest, *version;
} tx_journal_meta;

/* What tx_journal_open found. dropped_at_offset is -1 and note "" when nothing was cut off. */
typedef struct tx_journal_report {
    long records;           /* records in the journal after opening */
    long dropped_bytes;     /* bytes of torn tail cut off (0 if none) */
    long dropped_at_offset; /* file offset where the cut was made, or -1 */
    char note[256];         /* people-facing description: "created", what was dropped and why */
} tx_journal_report;

/*
 * Opens the journal at `path`, creating it when it does not exist and create_meta is given.
 *
 * Creating: the file is made with O_CREAT|O_EXCL (mode 0600), locked, and the header written.
 * The header and the file's name (an fsync of the containing directory) become durable with
 * the first record's sync, not here: a journal without records holds nothing to lose, so a run
 * that journals nothing costs no disk flush. A crash before that leaves no file, an empty one
 * or a torn header, which the next open with create_meta re-initialises. The directory must
 * already exist.
 *
 * Opening an existing file (create_meta may then be NULL, meaning "resume only"):
 * - takes an exclusive non-blocking flock on the file for the journal's lifetime; when another
 *   open file description holds it the error is "run <id> is in use by another process"
 *   (TACTUS_EUSAGE). Forked children that inherit the descriptor share the lock; the descriptor
 *   is O_CLOEXEC so exec'd children do not;
 * - reads and verifies every line: newline, checksum, JSON, the header's or record's shape, and
 *   pos == line number - 1;
 * - a bad tail (an incomplete line, a checksum mismatch, garbage or zeros) after which no line
 *   with a valid checksum follows is cut off (ftruncate + fdatasync) and described in *report;
 * - a bad line followed by any line with a valid checksum, or a line whose checksum is valid but
 *   whose content is wrong (bad JSON, bad shape, non-consecutive pos), is the error "journal
 *   <path> corrupt at position N ..." (TACTUS_ESYSTEM) and nothing is truncated: only bytes
 *   that an interrupted write could have produced are ever cut;
 * - a file with no complete header (a crash during creation) is re-initialised from create_meta,
 *   or is an error when create_meta is NULL;
 * - a header whose run_id differs from create_meta->run_id is an error (TACTUS_EUSAGE). Digests
 *   and version are not compared: use tx_journal_meta_get().
 *
 * Every record is parsed and checked, then dropped: only the offset index stays in memory,
 * and the file is mapped, not copied, while it is read. `durability` governs appends (see
 * tx_journal_append). `report` may be NULL. TACTUS_CRASH_AT is read here (see below); a
 * malformed value is TACTUS_EUSAGE. On success *out owns the journal (free with
 * tx_journal_close); on failure *out is NULL and nothing stays open or locked.
 */
int tx_journal_open(const char *path, const tx_journal_meta *create_meta, tx_durability durability,
                    tx_journal **out, tx_journal_report *report, tx_error *err);

/*
 * Opens an existing journal only to read it: O_RDONLY, the same exclusive non-blocking flock
 * (so no session appends meanwhile) and the same verification as tx_journal_open, but the file
 * is never written: a torn tail is reported in *report (dropped_bytes, offset, note) and left
 * in place, the zero reserve stays, and append and truncate fail (TACTUS_EUSAGE). run_id, when
 * not NULL, must be the header's. Used by read-only commands (replay --check, a resume of a
 * finished run), which must leave the file byte-identical, mtime included.
 */
int tx_journal_open_readonly(const char *path, const char *run_id, tx_journal **out,
                             tx_journal_report *report, tx_error *err);

/* The header as read or written; strings owned by j, valid until tx_journal_close. */
const tx_journal_meta *tx_journal_meta_get(const tx_journal *j);

/* Number of records (the header is not a record). */
long tx_journal_count(const tx_journal *j);

/* The record at pos (1-based), read back from the file and checked again (its checksum and
 * shape): a new reference the caller owns. The journal keeps no record in memory, only the
 * offset where each one ends, so this costs a pread and a parse. NULL with err set when pos is
 * out of range (TACTUS_EUSAGE) or the line no longer verifies (TACTUS_ESYSTEM). */
json_t *tx_journal_read(const tx_journal *j, long pos, tx_error *err);

/* Bytes of header and records in the file (not counting the zero reserve). */
uint64_t tx_journal_bytes(const tx_journal *j);

/* Caps the journal's size in bytes (the run's `journal` limit, or what the `disk` limit
 * leaves): an append that would grow it past max is refused with TACTUS_ELIMIT, writes nothing
 * and leaves the journal usable. 0 (the default) leaves only TX_JOURNAL_MAX_BYTES. */
void tx_journal_set_max_bytes(tx_journal *j, uint64_t max);

/* Length of the line the last tx_journal_append formatted (the one a limit refused, say). */
size_t tx_journal_last_line(const tx_journal *j);

/*
 * Appends `record` (borrowed; only its encoded line is kept, in the file). Its "pos" must be
 * tx_journal_count(j) + 1 and it must have exactly the fields listed at the top of this file with
 * these types: pos integer, kind non-empty string, name/site/args string or null, result any JSON,
 * error object or null, t and ms numbers, pending (optional) boolean, parent and seq (optional,
 * together: a checkpoint's child, seq == pos - parent + 1). A bad record is TACTUS_EUSAGE
 * naming the field, writes nothing and leaves the journal usable.
 *
 * The line goes out in one write(2) (continued only if the kernel writes short). Then
 *   TX_DURABILITY_FSYNC: fdatasync before returning: on success the record is on disk;
 *   TX_DURABILITY_BATCH: fdatasync once TX_JOURNAL_BATCH_RECORDS records are unsynced or the
 *     oldest unsynced one is TX_JOURNAL_BATCH_NS old (checked here, at the next append: there is
 *     no timer thread), and in tx_journal_sync / tx_journal_close;
 *   TX_DURABILITY_NONE: never; the page cache still survives a crash of this process.
 * If the write or fdatasync fails (ENOSPC, EIO, EFBIG, EROFS, ...) the file is truncated back
 * to its previous length, the record is not counted, the error (TACTUS_ESYSTEM) names the
 * cause, and every later append, sync or truncate fails: after a failed fdatasync the kernel
 * may have dropped dirty pages, so retrying and calling it success would lie (the PostgreSQL
 * "fsyncgate" lesson). In batch mode the message also names the earlier unsynced records whose
 * durability is then unknown.
 */
int tx_journal_append(tx_journal *j, json_t *record, tx_error *err);

/* Makes every appended record durable (fdatasync) in batch mode; a no-op returning 0 in fsync
 * mode (already durable) and none mode (never syncs). Fails (TACTUS_ESYSTEM) on a journal that
 * has had a write failure. */
int tx_journal_sync(tx_journal *j, tx_error *err);

/*
 * Checkpoint.clear_after(keep): keeps records 1..keep and forgets the rest, by ftruncate at the
 * end of record `keep` followed by fdatasync (skipped in none mode). ftruncate keeps the inode,
 * so the lock stays valid, and a crash leaves either the old or the new length. keep must be in
 * 0..count (TACTUS_EUSAGE otherwise).
 */
int tx_journal_truncate(tx_journal *j, long keep, tx_error *err);

/* Syncs in batch mode (errors are lost: call tx_journal_sync first to see them), closes the
 * file, which releases the lock, and frees j. NULL is allowed. */
void tx_journal_close(tx_journal *j);

/*
 * Fault injection for crash tests, always compiled in; one branch per append when unset.
 * TACTUS_CRASH_AT=<point>:<pos> makes the process raise(SIGKILL) while appending record <pos>:
 *   before_write  before anything of the line is written;
 *   after_write   after the whole line is written, before any fdatasync;
 *   after_sync    after the durability step of the current mode, before returning;
 *   torn_write    after writing only the first half of the line.
 * Other point names are left to other layers (the runtime shares the variable) and ignored
 * here; a value without ':' or with a bad pos is an error at open.
 */

#endif
