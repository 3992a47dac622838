/* server.c - the broker's request handler (see server.h). */
#include "server.h"

#include "files.h"
#include "home.h"
#include "hosttools.h"
#include "redact.h"
#include "secrets.h"
#include "term.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MODULE_MAX_BYTES (4u << 20)
#define TOOL_NAME_MAX 128

/* A secret a host tool names, decrypted once per run into locked memory. */
typedef struct held_secret {
    char *name;
    unsigned char *value; /* sodium_malloc'd by tx_secrets_get; NULL when not set */
    size_t len;
} held_secret;

/* The journal of a run without a directory: its records as compact JSON text back to back,
 * bounded by the journal limit (a parsed copy would cost many times the bytes). */
typedef struct mem_journal {
    char *text;
    size_t len, cap;
    size_t *ends; /* ends[i]: offset just past record i + 1 */
    long count, ends_cap;
} mem_journal;

struct tx_server {
    tx_server_opts opts;
    json_t *result;             /* from run.finish */
    mem_journal memory_journal; /* the journal when the run has no directory */
    long crash_before_return;   /* TACTUS_CRASH_AT=before_return:N (crash tests); 0: off */
    long crash_before_tool;     /* TACTUS_CRASH_AT=before_tool:N: before the tool of record N */
    long crash_answer_saved;    /* TACTUS_CRASH_AT=answer_saved:N: after answer.json, before
                                 * the pending record N is cut (crash tests); 0: off */
    long host_calls;
    tx_redactor *redactor;
    int evidence_synced;      /* run.json and the run directory flushed (before the first record) */
    tx_journal *journal;      /* opts.journal, or the one opened at the first record */
    int owns_journal;         /* journal was opened here (lazily) and is closed here */
    json_t *answer;           /* a resume's answer, recorded when the replay reaches the request */
    char deferred_error[512]; /* a journal.append notification that failed */
    uint64_t disk_other;      /* disk bytes besides journal and stream: files/, File.write */
    int tripped;              /* the broker-side limit that stopped the run, or -1 */
    uint64_t trip_used;       /* its usage when it tripped */
    char trip_message[512];
    /* What the last human.ask was given ({kind, answer} or {kind, suspend}), until the runner
     * journals it: the one human record a runner may append. */
    json_t *human_reply;
    /* The checkpoint whose children end the journal: the position it started at, or 0 when the
     * last record is not a child; known once open_known is set (computed lazily, see
     * open_checkpoint). */
    long open_parent;
    int open_known;
    held_secret *secrets;
    size_t nsecrets;
    tx_redactor **tool_masks; /* per host tool (config index): its own secrets, built lazily */
    double deadline_ms;       /* the run's deadline (CLOCK_MONOTONIC ms); 0: none */
    int adopt_orphans;        /* this process is the tools' subreaper (hosttools.h) */
    char deadline_where[256]; /* what the broker was doing when the deadline passed; "" */
};

/* Bytes in <run_dir>/files/ (artifacts an earlier attempt of the run saved), counted towards
 * the `disk` limit of a resumed run. At most 100000 entries are looked at. */
static uint64_t files_dir_bytes(const char *run_dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/files", run_dir);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    uint64_t total = 0;
    struct dirent *e;
    for (int n = 0; n < 100000 && (e = readdir(d)) != NULL; n++) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

tx_server *tx_server_new(const tx_server_opts *opts, tx_error *err)
{
    tx_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        free(s);
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    s->journal = opts->journal;
    s->tripped = -1;
    if (opts->evidence != NULL)
        s->disk_other = files_dir_bytes(tx_evidence_dir(opts->evidence));
    const char *crash = getenv("TACTUS_CRASH_AT");
    if (crash != NULL && strncmp(crash, "before_return:", 14) == 0)
        s->crash_before_return = strtol(crash + 14, NULL, 10);
    if (crash != NULL && strncmp(crash, "before_tool:", 12) == 0)
        s->crash_before_tool = strtol(crash + 12, NULL, 10);
    if (crash != NULL && strncmp(crash, "answer_saved:", 13) == 0)
        s->crash_answer_saved = strtol(crash + 13, NULL, 10);
    s->redactor = tx_redactor_new();
    if (s->redactor == NULL) {
        tx_server_free(s);
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        return NULL;
    }
    return s;
}

/* Adds name to the run's secrets, once. Returns 0 or -1 (out of memory). */
static int need_secret(tx_server *s, const char *name, tx_error *err)
{
    for (size_t j = 0; j < s->nsecrets; j++)
        if (strcmp(s->secrets[j].name, name) == 0)
            return 0;
    held_secret *grown = realloc(s->secrets, (s->nsecrets + 1) * sizeof *grown);
    if (grown == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    s->secrets = grown;
    s->secrets[s->nsecrets] = (held_secret){strdup(name), NULL, 0};
    if (s->secrets[s->nsecrets].name == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    s->nsecrets++;
    return 0;
}

/*
 * The one list of the secrets this run may use: the names its trusted configuration gives the
 * tools this run may call (a host tool declared but not allowlisted gets nothing). Only these
 * are decrypted and only these are known to the run's redactor (every other stored secret
 * stays sealed, so no oracle can be asked about it). Whatever else is configured to receive a
 * secret (MCP servers, providers) adds its names here.
 */
static int collect_secret_names(tx_server *s, tx_error *err)
{
    const tx_config *cfg = s->opts.config;
    for (size_t i = 0; i < cfg->nhost_tools; i++) {
        const tx_host_tool *t = &cfg->host_tools[i];
        if (!tx_config_allows_tool(cfg, t->name))
            continue;
        for (size_t k = 0; k < t->nsecrets; k++)
            if (need_secret(s, t->secrets[k], err) != 0)
                return -1;
    }
    return 0;
}

int tx_server_load_secrets(tx_server *s, tx_error *err)
{
    if (collect_secret_names(s, err) != 0)
        return -1;
    if (s->nsecrets == 0)
        return 0; /* the store is not even opened */
    char home[4096];
    if (tx_home_dir(home, sizeof home, err) != 0)
        return -1;
    tx_secrets *store = NULL;
    if (tx_secrets_open(home, &store, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->nsecrets; i++) {
        held_secret *h = &s->secrets[i];
        tx_error get_err;
        tx_error_clear(&get_err);
        if (tx_secrets_get(store, h->name, &h->value, &h->len, &get_err) != 0) {
            h->value = NULL;
            /* Not set: reported when a tool that needs it is called. Anything else (a
             * tampered store, a wrong key) fails the run now. */
            if (get_err.status != TACTUS_EUSAGE)
                rc = tx_fail(err, get_err.status, "%s", get_err.message);
        } else if (tx_redactor_add(s->redactor, h->name, h->value, h->len) != 0) {
            rc = tx_fail(err, TACTUS_ESYSTEM, "out of memory registering secret %s", h->name);
        }
    }
    tx_secrets_close(store);
    return rc;
}

int tx_server_redact(const tx_server *s, json_t *value)
{
    if (s->redactor == NULL || tx_redactor_count(s->redactor) == 0)
        return 0;
    return tx_redact_json(s->redactor, value);
}

/* Redacts a message buffer in place with r (truncating if the replacement is longer). */
static void redact_text(const tx_redactor *r, char *buf, size_t cap)
{
    if (r == NULL || tx_redactor_count(r) == 0)
        return;
    size_t out_len = 0;
    char *clean = tx_redact(r, buf, strlen(buf), &out_len);
    if (clean == NULL) {
        snprintf(buf, cap, "(message withheld: out of memory while redacting)");
        return;
    }
    snprintf(buf, cap, "%s", clean);
    free(clean);
}

void tx_server_free(tx_server *s)
{
    if (s == NULL)
        return;
    json_decref(s->result);
    free(s->memory_journal.text);
    free(s->memory_journal.ends);
    json_decref(s->answer);
    json_decref(s->human_reply);
    if (s->owns_journal)
        tx_journal_close(s->journal);
    for (size_t i = 0; i < s->nsecrets; i++) {
        free(s->secrets[i].name);
        if (s->secrets[i].value != NULL)
            tx_secret_free(s->secrets[i].value, s->secrets[i].len);
    }
    free(s->secrets);
    for (size_t i = 0; s->tool_masks != NULL && i < s->opts.config->nhost_tools; i++)
        tx_redactor_free(s->tool_masks[i]);
    free(s->tool_masks);
    tx_redactor_free(s->redactor);
    free(s);
}

int tx_server_record(tx_server *s, json_t *event, tx_error *err)
{
    json_t *clean = NULL;
    if (s->redactor != NULL && tx_redactor_count(s->redactor) > 0) {
        clean = json_deep_copy(event);
        if (clean == NULL || tx_redact_json(s->redactor, clean) != 0) {
            json_decref(clean);
            return tx_fail(err, TACTUS_ESYSTEM, "out of memory redacting an event");
        }
        event = clean;
    }
    int rc = 0;
    if (s->opts.on_event != NULL) {
        char *text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text != NULL) {
            s->opts.on_event(s->opts.event_ud, text);
            free(text);
        }
    }
    if (s->opts.evidence != NULL)
        rc = tx_evidence_event(s->opts.evidence, event, err);
    json_decref(clean);
    return rc;
}

void tx_server_set_deadline(tx_server *s, double deadline_ms, int adopt_orphans)
{
    s->deadline_ms = deadline_ms;
    s->adopt_orphans = adopt_orphans;
}

const char *tx_server_deadline_hit(const tx_server *s)
{
    return s->deadline_where[0] != '\0' ? s->deadline_where : NULL;
}

static double now_ms(void);

/* True once the run's deadline has passed. */
static int past_deadline(const tx_server *s)
{
    return s->deadline_ms > 0 && now_ms() >= s->deadline_ms;
}

/* Notes that the deadline passed while the broker was doing `what` (for result.json's
 * error.where) and sets the Timeout error of the request that was cut. */
static void note_deadline(tx_server *s, const char *what, json_t *site, const char **etype,
                          char *emsg, size_t cap)
{
    if (s->deadline_where[0] == '\0') {
        /* The site is the runner's word, e.g. "proc.tac:12"; "[C]:-1" (a tail call) says
         * nothing and is left out. */
        const char *at = json_string_value(site);
        if (at != NULL && at[0] == '[')
            at = NULL;
        snprintf(s->deadline_where, sizeof s->deadline_where, "%.120s%s%.120s", what,
                 at ? ", called at " : "", at ? at : "");
    }
    *etype = "Timeout";
    snprintf(emsg, cap, "the run's wall-clock limit passed during %.900s", s->deadline_where);
}

json_t *tx_server_take_result(tx_server *s)
{
    json_t *r = s->result;
    s->result = NULL;
    return r;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the journal ------------------------------------------------------------------------ */

long tx_server_journal_count(const tx_server *s)
{
    return s->journal ? tx_journal_count(s->journal) : s->memory_journal.count;
}

/* The record at 1-based pos (new reference), or NULL with err set. */
static json_t *journal_read(const tx_server *s, long pos, tx_error *err)
{
    if (s->journal)
        return tx_journal_read(s->journal, pos, err);
    const mem_journal *m = &s->memory_journal;
    if (pos < 1 || pos > m->count) {
        tx_fail(err, TACTUS_EUSAGE, "the journal has no record %ld", pos);
        return NULL;
    }
    size_t from = pos > 1 ? m->ends[pos - 2] : 0;
    json_error_t jerr;
    json_t *rec = json_loadb(m->text + from, m->ends[pos - 1] - from, JSON_ALLOW_NUL, &jerr);
    if (rec == NULL)
        tx_fail(err, TACTUS_ESYSTEM, "the in-memory journal's record %ld: %s", pos, jerr.text);
    return rec;
}

tx_journal *tx_server_journal(const tx_server *s)
{
    return s->journal;
}

/* ---- the broker's own limits: journal and disk (docs/limits.md) ------------------------- */

static uint64_t limit_allowed(const tx_server *s, tx_limit_id id)
{
    return s->opts.config != NULL ? s->opts.config->limits.allowed[id] : 0;
}

/* Bytes the run has put on disk: the journal, stream.jsonl, files/ and File.write. */
static uint64_t disk_used(const tx_server *s)
{
    uint64_t used = s->disk_other;
    if (s->journal != NULL)
        used += tx_journal_bytes(s->journal);
    if (s->opts.evidence != NULL)
        used += tx_evidence_stream_bytes(s->opts.evidence);
    return used;
}

/* Stops the run on limit id at usage `used` (what = the write that would pass it). From here
 * on the journal takes no record and every request is refused; the run's result becomes status
 * `limit` naming it (tx_server_apply_limit). Returns -1 with err set (TACTUS_ELIMIT). */
static int trip(tx_server *s, tx_limit_id id, uint64_t used, const char *what, tx_error *err)
{
    if (s->tripped < 0) {
        s->tripped = (int)id;
        s->trip_used = used;
        snprintf(s->trip_message, sizeof s->trip_message,
                 "%s limit exceeded (%llu bytes allowed): %.300s", tx_limit_name(id),
                 (unsigned long long)limit_allowed(s, id), what);
    }
    return tx_fail(err, TACTUS_ELIMIT, "%s", s->trip_message);
}

/* Checks that `add` more bytes on disk stay within the `disk` limit; trips it otherwise. */
static int disk_allows(tx_server *s, uint64_t add, const char *what, tx_error *err)
{
    uint64_t allowed = limit_allowed(s, TX_LIMIT_DISK);
    if (s->tripped >= 0)
        return tx_fail(err, TACTUS_ELIMIT, "the run was stopped: %s", s->trip_message);
    if (allowed == 0 || disk_used(s) + add <= allowed)
        return 0;
    char buf[200];
    snprintf(buf, sizeof buf, "%.120s would bring the run to %llu bytes on disk", what,
             (unsigned long long)(disk_used(s) + add));
    return trip(s, TX_LIMIT_DISK, disk_used(s) + add, buf, err);
}

/* Sets the journal's cap to what the journal and disk limits leave. */
static void cap_journal(tx_server *s)
{
    uint64_t max = limit_allowed(s, TX_LIMIT_JOURNAL), disk = limit_allowed(s, TX_LIMIT_DISK);
    if (disk > 0) {
        uint64_t jb = tx_journal_bytes(s->journal), others = disk_used(s) - jb;
        uint64_t room = disk > others ? disk - others : 0;
        if (max == 0 || room < max)
            max = room > 0 ? room : 1; /* 0 would mean no cap */
    }
    tx_journal_set_max_bytes(s->journal, max);
}

/* A journal append refused with TACTUS_ELIMIT: which of our limits it was (none when it was
 * the journal's own hard cap). */
static int classify_journal_limit(tx_server *s, uint64_t before, tx_error *err)
{
    uint64_t need = before + tx_journal_last_line(s->journal);
    uint64_t jl = limit_allowed(s, TX_LIMIT_JOURNAL), dl = limit_allowed(s, TX_LIMIT_DISK);
    char what[200];
    snprintf(what, sizeof what, "record of %zu bytes would bring the journal to %llu bytes",
             tx_journal_last_line(s->journal), (unsigned long long)need);
    if (jl > 0 && need > jl)
        return trip(s, TX_LIMIT_JOURNAL, need, what, err);
    uint64_t others = disk_used(s) - before;
    if (dl > 0 && others + need > dl)
        return trip(s, TX_LIMIT_DISK, others + need, what, err);
    return -1; /* err already says why */
}

/* Appends a record to the in-memory journal, within the journal limit. */
static int mem_journal_append(tx_server *s, json_t *record, tx_error *err)
{
    mem_journal *m = &s->memory_journal;
    size_t size = json_dumpb(record, NULL, 0, JSON_COMPACT);
    uint64_t jl = limit_allowed(s, TX_LIMIT_JOURNAL);
    if (size == 0)
        return tx_fail(err, TACTUS_EUSAGE, "journal record cannot be encoded as JSON");
    if (jl > 0 && m->len + size > jl) {
        char what[160];
        snprintf(what, sizeof what, "record of %zu bytes would bring the journal to %zu bytes",
                 size, m->len + size);
        return trip(s, TX_LIMIT_JOURNAL, m->len + size, what, err);
    }
    if (m->count == m->ends_cap) {
        long cap = m->ends_cap ? m->ends_cap * 2 : 64;
        size_t *ends = realloc(m->ends, (size_t)cap * sizeof *ends);
        if (ends == NULL)
            return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        m->ends = ends;
        m->ends_cap = cap;
    }
    if (m->len + size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + size)
            cap *= 2;
        char *text = realloc(m->text, cap);
        if (text == NULL)
            return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        m->text = text;
        m->cap = cap;
    }
    json_dumpb(record, m->text + m->len, size, JSON_COMPACT);
    m->len += size;
    m->ends[m->count++] = m->len;
    return 0;
}

/* Appends a record durably; on success also kills the process when a crash test asks for it
 * between the durable write and the reply. */
static int journal_append(tx_server *s, json_t *record, tx_error *err)
{
    if (s->tripped >= 0)
        return tx_fail(err, TACTUS_ELIMIT, "the run was stopped: %s", s->trip_message);
    if (s->journal == NULL && s->opts.journal_path != NULL) {
        /* A new run's journal file is made with its first record: runs that journal nothing
         * create no file for it. */
        tx_journal_report report;
        if (tx_journal_open(s->opts.journal_path, &s->opts.journal_meta, s->opts.config->durability,
                            &s->journal, &report, err) != 0)
            return -1;
        s->owns_journal = 1;
    }
    if (!s->evidence_synced && s->opts.evidence != NULL &&
        s->opts.config->durability != TX_DURABILITY_NONE) {
        if (tx_evidence_sync(s->opts.evidence, err) != 0)
            return -1;
        s->evidence_synced = 1;
    }
    if (s->opts.check_only)
        return tx_fail(err, TACTUS_ENONDET,
                       "replay check: the procedure tried to record a new step");
    if (s->journal) {
        uint64_t before = tx_journal_bytes(s->journal);
        cap_journal(s);
        if (tx_journal_append(s->journal, record, err) != 0) {
            if (err->status == TACTUS_ELIMIT)
                classify_journal_limit(s, before, err);
            return -1;
        }
    } else {
        /* No run directory: the records live here, so the journal limit bounds this memory. */
        if (mem_journal_append(s, record, err) != 0)
            return -1;
    }
    json_t *parent = json_object_get(record, "parent");
    s->open_parent = json_is_integer(parent) ? (long)json_integer_value(parent) : 0;
    s->open_known = 1;
    long pos = (long)json_integer_value(json_object_get(record, "pos"));
    if (s->crash_before_return != 0 && pos == s->crash_before_return)
        raise(SIGKILL);
    return 0;
}

/* The position the checkpoint whose children end the journal started at, or 0 (the last record
 * is not a child, or there is none); -1 when the last record cannot be read. One read per
 * opened journal or truncation, never one per record. */
static long open_checkpoint(tx_server *s)
{
    if (s->open_known)
        return s->open_parent;
    long n = tx_server_journal_count(s);
    s->open_parent = 0;
    if (n > 0) {
        tx_error err;
        tx_error_clear(&err);
        json_t *last = journal_read(s, n, &err);
        if (last == NULL)
            return -1;
        json_t *parent = json_object_get(last, "parent");
        s->open_parent = json_is_integer(parent) ? (long)json_integer_value(parent) : 0;
        json_decref(last);
    }
    s->open_known = 1;
    return s->open_parent;
}

/*
 * Whether a record of `kind` at the next position, child of `parent` with number `seq` (both
 * NULL for a record of its own), fits the journal (docs/durability.md "Operations inside a
 * checkpoint"): children are consecutive records from the position their checkpoint started
 * at, numbered from 1, and are followed by more children or by their checkpoint's record. A
 * runner therefore cannot place a child under a checkpoint that is not the running one, skip
 * or reuse a number, or leave children without their checkpoint. Returns 1, or 0 with why.
 */
static int record_fits(tx_server *s, const char *kind, json_t *parent, json_t *seq, char *why,
                       size_t cap)
{
    long next = tx_server_journal_count(s) + 1, open = open_checkpoint(s);
    if (open < 0) {
        snprintf(why, cap, "the journal's last record cannot be read");
        return 0;
    }
    if (parent == NULL && seq == NULL) {
        if (open > 0 && strcmp(kind, "checkpoint") != 0) {
            snprintf(why, cap,
                     "a %s record of its own while the checkpoint at position %ld is running "
                     "(its children are followed by its own record)",
                     kind, open);
            return 0;
        }
        return 1;
    }
    long want = open > 0 ? open : next;
    if (!json_is_integer(parent) || !json_is_integer(seq) || json_integer_value(parent) != want ||
        json_integer_value(seq) != next - want + 1 || strcmp(kind, "checkpoint") == 0) {
        snprintf(why, cap,
                 "parent %lld, seq %lld is not the next child of the running checkpoint (parent "
                 "%ld, seq %ld)",
                 json_is_integer(parent) ? (long long)json_integer_value(parent) : -1LL,
                 json_is_integer(seq) ? (long long)json_integer_value(seq) : -1LL, want,
                 next - want + 1);
        return 0;
    }
    return 1;
}

/* steps.json, one record at a time (tx_evidence_next). */
typedef struct steps_cursor {
    const tx_server *s;
    long pos, count;
} steps_cursor;

static int next_step(void *ud, json_t **out, tx_error *err)
{
    steps_cursor *c = ud;
    if (c->pos > c->count)
        return 0;
    *out = journal_read(c->s, c->pos++, err);
    if (*out == NULL)
        return -1;
    /* Evidence: the journal holds what the procedure supplied exactly; this copy is masked. */
    if (tx_server_redact(c->s, *out) != 0) {
        json_decref(*out);
        *out = NULL;
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory redacting steps.json");
    }
    return 1;
}

int tx_server_write_steps(const tx_server *s, tx_evidence *ev, tx_error *err)
{
    steps_cursor c = {s, 1, tx_server_journal_count(s)};
    return tx_evidence_write_array(ev, "steps.json", next_step, &c, err);
}

int tx_server_apply_limit(const tx_server *s, json_t *result)
{
    if (s->tripped < 0 || !json_is_object(result))
        return 0;
    json_object_set_new(result, "status", json_string("limit"));
    json_object_set_new(result, "output", json_null());
    json_object_set_new(result, "error",
                        json_pack("{s:s, s:s, s:s}", "type", "LimitExceeded", "message",
                                  s->trip_message, "limit", tx_limit_name(s->tripped)));
    return 1;
}

int tx_server_stopped(const tx_server *s)
{
    return s->tripped >= 0;
}

void tx_server_limits(const tx_server *s, json_t *limits)
{
    uint64_t journal = s->journal ? tx_journal_bytes(s->journal) : s->memory_journal.len;
    uint64_t disk = disk_used(s);
    if (s->tripped == TX_LIMIT_JOURNAL && s->trip_used > journal)
        journal = s->trip_used;
    if (s->tripped == TX_LIMIT_DISK && s->trip_used > disk)
        disk = s->trip_used;
    json_object_set_new(limits, "journal",
                        json_pack("{s:I, s:I}", "used", (json_int_t)journal, "allowed",
                                  (json_int_t)limit_allowed(s, TX_LIMIT_JOURNAL)));
    json_object_set_new(limits, "disk",
                        json_pack("{s:I, s:I}", "used", (json_int_t)disk, "allowed",
                                  (json_int_t)limit_allowed(s, TX_LIMIT_DISK)));
}

static const char *const record_kinds[] = {"checkpoint", "host_call", "nondet",   "sleep",
                                           "human",      "procedure", "artifact", NULL};

/* Records a refused request as an event of `type` (request_refused, token_refused) with the
 * method and the reason, never the request's content. Refusals count towards the disk limit:
 * a runner that only sends refused requests still fills the run directory. */
static void record_refused(tx_server *s, const char *type, const char *method, const char *reason)
{
    if (s->tripped >= 0)
        return; /* the run is over: nothing more of it goes on disk */
    json_t *event = json_pack("{s:s, s:s, s:s}", "type", type, "method", method, "reason", reason);
    tx_error err;
    tx_error_clear(&err);
    if (event != NULL)
        tx_server_record(s, event, &err);
    json_decref(event);
    (void)disk_allows(s, 0, "refusal events", &err);
}

/* A request refused as one a runner may not make (the runner may be compromised: hostile code
 * can send any frame). */
static void record_forgery(tx_server *s, const char *method, const char *reason)
{
    record_refused(s, "request_refused", method, reason);
}

/* Refuses a request: BadRequest with "<method>: <reason>", and a request_refused event. */
static json_t *refuse(tx_server *s, const char *method, const char **etype, char *emsg, size_t cap,
                      const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    *etype = TX_ERR_BAD_REQUEST;
    snprintf(emsg, cap, "%s: %s", method, reason);
    record_forgery(s, method, reason);
    return NULL;
}

/* A human record must be the one the broker's last human.ask reply describes: the same kind,
 * pending exactly when the reply said suspend, and the answer it gave. Answers to a suspended
 * request are written by the host (tactus resume, journal.answer), never by the runner. */
static int human_record_matches(const tx_server *s, json_t *rec, char *why, size_t cap)
{
    const char *name = json_string_value(json_object_get(rec, "name"));
    const char *asked = json_string_value(json_object_get(s->human_reply, "kind"));
    int pending = json_is_true(json_object_get(rec, "pending"));
    if (s->human_reply == NULL || name == NULL || asked == NULL || strcmp(name, asked) != 0) {
        snprintf(why, cap,
                 "a human record needs the human.ask it answers (answers are written by the host, "
                 "through tactus resume)");
        return 0;
    }
    json_t *answer = json_object_get(s->human_reply, "answer");
    int any = json_is_true(json_object_get(s->human_reply, "default"));
    if (pending != json_is_true(json_object_get(s->human_reply, "suspend")) ||
        (!pending && !any && !json_equal(answer, json_object_get(rec, "result")))) {
        snprintf(why, cap,
                 "the human record is not what human.ask answered (answers are written by the "
                 "host, through tactus resume)");
        return 0;
    }
    return 1;
}

/* Checks a record the runner wants to append; the runner's word is checked, not trusted. Only
 * the kinds whose outcome the runner itself computes may come from it; what the broker produces
 * (host calls, artifacts, File outcomes, human answers, argument digests) never does. Returns
 * 1, or 0 with the reason in why. */
static int valid_record(tx_server *s, json_t *rec, char *why, size_t cap)
{
    json_t *pos = json_object_get(rec, "pos");
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    json_t *name = json_object_get(rec, "name"), *site = json_object_get(rec, "site");
    json_t *error = json_object_get(rec, "error"), *pending = json_object_get(rec, "pending");
    json_t *args = json_object_get(rec, "args");
    long expected = tx_server_journal_count(s) + 1;
    if (!json_is_integer(pos) || json_integer_value(pos) != expected) {
        snprintf(why, cap, "expected position %ld", expected);
        return 0;
    }
    int known = 0;
    for (int i = 0; kind != NULL && record_kinds[i]; i++)
        known |= strcmp(kind, record_kinds[i]) == 0;
    if (!known) {
        snprintf(why, cap, "unknown record kind");
        return 0;
    }
    if ((name != NULL && !json_is_string(name) && !json_is_null(name)) ||
        (site != NULL && !json_is_string(site)) ||
        (error != NULL && !json_is_object(error) && !json_is_null(error)) ||
        (pending != NULL && !json_is_boolean(pending))) {
        snprintf(why, cap, "malformed record");
        return 0;
    }
    const char *sname = json_string_value(name);
    if (strcmp(kind, "host_call") == 0 || strcmp(kind, "artifact") == 0 ||
        (strcmp(kind, "nondet") == 0 && sname != NULL && strncmp(sname, "File.", 5) == 0)) {
        snprintf(why, cap, "%s records%s are journaled by the broker itself", kind,
                 strcmp(kind, "nondet") == 0 ? " of File" : "");
        return 0;
    }
    if (args != NULL && !json_is_null(args)) {
        snprintf(why, cap, "argument digests are written by the broker, not the runner");
        return 0;
    }
    if (json_is_true(pending) && strcmp(kind, "human") != 0) {
        snprintf(why, cap, "only a human record can be pending");
        return 0;
    }
    if (strcmp(kind, "human") == 0 && !human_record_matches(s, rec, why, cap))
        return 0;
    json_t *parent = json_object_get(rec, "parent"), *seq = json_object_get(rec, "seq");
    if (!record_fits(s, kind, parent, seq, why, cap))
        return 0;
    return 1;
}

static json_t *handle_journal_append(tx_server *s, json_t *params, const char **etype, char *emsg,
                                     size_t cap)
{
    json_t *rec = json_object_get(params, "record");
    char why[300];
    if (!json_is_object(rec))
        return refuse(s, "journal.append", etype, emsg, cap, "needs a record object");
    if (!valid_record(s, rec, why, sizeof why))
        return refuse(s, "journal.append", etype, emsg, cap, "%s", why);
    int human = strcmp(json_string_value(json_object_get(rec, "kind")), "human") == 0;
    /* Kept exactly as the runner sent it: a replay (journal.read, Checkpoint.get) must return
     * what the procedure supplied, not whether it matched a secret. The evidence copy
     * (steps.json) is redacted instead, see next_step. */
    json_t *copy = json_deep_copy(rec);
    tx_error err;
    tx_error_clear(&err);
    if (copy == NULL || journal_append(s, copy, &err) != 0) {
        json_decref(copy);
        *etype = "JournalError";
        snprintf(emsg, cap, "%s", copy ? err.message : "out of memory");
        return NULL;
    }
    json_decref(copy);
    if (human) {
        json_decref(s->human_reply); /* used up: one record per answer */
        s->human_reply = NULL;
    }
    return json_pack("{s:b}", "ok", 1);
}

/* journal.read {from}: records from `from` on, at most ~1 MiB of them per reply. */
static json_t *handle_journal_read(tx_server *s, json_t *params, const char **etype, char *emsg,
                                   size_t cap)
{
    json_t *from_v = json_object_get(params, "from");
    long from = json_is_integer(from_v) ? (long)json_integer_value(from_v) : 1;
    if (from < 1) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "journal.read: from must be >= 1");
        return NULL;
    }
    json_t *records = json_array();
    long n = tx_server_journal_count(s), pos = from;
    size_t budget = 0;
    /* Only what replay compares and returns: timings stay in the journal (and formatting
     * their floats was most of the cost of a long replay); argument digests only when asked
     * for (strict_determinism compares them). */
    static const char *const fields[] = {"pos",     "kind",   "name", "site", "result", "error",
                                         "pending", "parent", "seq",  "args", NULL};
    int nfields = json_is_true(json_object_get(params, "digests")) ? 10 : 9;
    tx_error err;
    tx_error_clear(&err);
    for (; records != NULL && pos <= n && budget < (1u << 20); pos++) {
        json_t *rec = journal_read(s, pos, &err);
        if (rec == NULL) {
            json_decref(records);
            *etype = "JournalError";
            snprintf(emsg, cap, "%s", err.message);
            return NULL;
        }
        json_t *slim = json_object();
        for (int i = 0; slim != NULL && i < nfields; i++) {
            json_t *v = json_object_get(rec, fields[i]);
            if (v != NULL && !json_is_null(v))
                json_object_set(slim, fields[i], v);
        }
        json_decref(rec);
        if (slim == NULL || json_array_append_new(records, slim) != 0)
            break;
        budget += json_dumpb(slim, NULL, 0, JSON_COMPACT);
    }
    return json_pack("{s:o, s:b}", "records", records, "more", pos <= n);
}

/* Drops the in-memory journal's records after `keep`. */
static void memory_journal_keep(tx_server *s, long keep)
{
    mem_journal *m = &s->memory_journal;
    if (keep >= 0 && keep < m->count) {
        m->count = keep;
        m->len = keep > 0 ? m->ends[keep - 1] : 0;
    }
}

static json_t *handle_journal_truncate(tx_server *s, json_t *params, const char **etype, char *emsg,
                                       size_t cap)
{
    json_t *keep_v = json_object_get(params, "keep");
    long keep = json_is_integer(keep_v) ? (long)json_integer_value(keep_v) : -1;
    *etype = TX_ERR_BAD_REQUEST;
    if (keep < 0 || keep > tx_server_journal_count(s)) {
        snprintf(emsg, cap, "journal.truncate: keep must be between 0 and the record count");
        return NULL;
    }
    tx_error err;
    tx_error_clear(&err);
    s->open_known = 0; /* the last record changed: look again */
    if (s->journal) {
        if (tx_journal_truncate(s->journal, keep, &err) != 0) {
            *etype = "JournalError";
            snprintf(emsg, cap, "%s", err.message);
            return NULL;
        }
    } else {
        memory_journal_keep(s, keep);
    }
    return json_pack("{s:b}", "ok", 1);
}

/* True if `value` is one of a Human.input request's `options` (strings, or tables whose
 * `value` is compared), or when the request lists none. */
static int among_options(const json_t *request, const json_t *value)
{
    const json_t *options = json_object_get(request, "options");
    if (!json_is_array(options) || json_array_size(options) == 0)
        return 1;
    size_t i;
    const json_t *o;
    json_array_foreach(options, i, o)
    {
        const json_t *v =
            json_is_object(o) && json_object_get(o, "value") ? json_object_get(o, "value") : o;
        if (json_equal(v, value))
            return 1;
    }
    return 0;
}

/*
 * The answer value a resumed run records for a pending request of `kind` (`request` is what
 * the pending record holds: message, options, ...), or NULL with the accepted answers in emsg.
 * Only a decision of the question's kind is accepted, so a free text never passes for an
 * approval: approve/escalate take --approve/--reject or a JSON boolean; review takes
 * --approve/--reject (with --feedback TEXT) or {"decision": "approve"|"reject", "feedback":
 * text}; input takes text or any JSON value, one of its `options` when it lists some.
 */
static json_t *answer_value(const char *kind, const json_t *request, json_t *answer, char *emsg,
                            size_t cap)
{
    int approve = json_is_true(json_object_get(answer, "approve"));
    int reject = json_is_true(json_object_get(answer, "reject"));
    json_t *text = json_object_get(answer, "text");
    json_t *value = json_object_get(answer, "json");
    json_t *feedback = json_object_get(answer, "feedback");
    if (feedback != NULL && (strcmp(kind, "review") != 0 || !(approve || reject))) {
        snprintf(emsg, cap,
                 "--feedback goes with --approve or --reject on a Human.review; this run "
                 "waits for Human.%s",
                 kind);
        return NULL;
    }
    if (strcmp(kind, "approve") == 0 || strcmp(kind, "escalate") == 0) {
        if (approve || reject)
            return json_boolean(approve);
        if (json_is_boolean(value))
            return json_incref(value);
        snprintf(emsg, cap,
                 "this run waits for an approval (Human.%s): accepted answers are --approve, "
                 "--reject, or --answer-json true|false",
                 kind);
        return NULL;
    }
    if (strcmp(kind, "review") == 0) {
        if (approve || reject)
            return json_pack("{s:s, s:O?}", "decision", reject ? "reject" : "approve", "feedback",
                             feedback);
        const char *d = json_string_value(json_object_get(value, "decision"));
        json_t *fb = json_object_get(value, "feedback");
        if (json_is_object(value) && d != NULL &&
            (strcmp(d, "approve") == 0 || strcmp(d, "reject") == 0) &&
            (fb == NULL || json_is_string(fb) || json_is_null(fb)) &&
            json_object_size(value) == 1 + (fb != NULL))
            return json_incref(value);
        snprintf(emsg, cap,
                 "this run waits for a review: accepted answers are --approve or --reject (with "
                 "--feedback TEXT), or --answer-json '{\"decision\": \"approve\"|\"reject\", "
                 "\"feedback\": TEXT}'");
        return NULL;
    }
    json_t *given = value != NULL ? value : json_is_string(text) ? text : NULL;
    if (given == NULL) {
        snprintf(emsg, cap,
                 "this run waits for an answer: use --answer TEXT or --answer-json JSON");
        return NULL;
    }
    if (!among_options(request, given)) {
        char *list =
            json_dumps(json_object_get(request, "options"), JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(emsg, cap, "this run waits for one of the options %.150s: the answer is not one",
                 list ? list : "?");
        free(list);
        return NULL;
    }
    return json_incref(given);
}

/* The journal's last record (new reference) when it is a pending Human.* request, else NULL
 * with err set. */
static json_t *pending_last(const tx_server *s, tx_error *err)
{
    long n = tx_server_journal_count(s);
    json_t *last = n > 0 ? journal_read(s, n, err) : NULL;
    if (last == NULL || !json_is_true(json_object_get(last, "pending"))) {
        json_decref(last);
        tx_fail(err, TACTUS_EUSAGE, "run %s is not waiting for an answer", s->opts.run_id);
        return NULL;
    }
    return last;
}

int tx_answer_check(const json_t *last, const char *run_id, json_t *answer, tx_error *err)
{
    if (last == NULL || !json_is_true(json_object_get(last, "pending")))
        return tx_fail(err, TACTUS_EUSAGE, "run %s is not waiting for an answer", run_id);
    const char *kind = json_string_value(json_object_get(last, "name"));
    char emsg[512];
    json_t *value = answer_value(kind ? kind : "input", json_object_get(last, "result"), answer,
                                 emsg, sizeof emsg);
    if (value == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "%s", emsg);
    json_decref(value);
    return 0;
}

int tx_server_answer(tx_server *s, json_t *answer, tx_error *err)
{
    json_t *last = pending_last(s, err);
    if (last == NULL)
        return -1;
    const char *kind = json_string_value(json_object_get(last, "name"));
    char emsg[512];
    json_t *value = answer_value(kind ? kind : "input", json_object_get(last, "result"), answer,
                                 emsg, sizeof emsg);
    json_decref(last);
    if (value == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "%s", emsg);
    /* Checked now, written only when the replay reaches the request (journal.answer): a
     * resume that diverges before then leaves the journal untouched. */
    json_decref(s->answer);
    s->answer = json_incref(answer);
    json_decref(value);
    return 0;
}

/*
 * The answer window. Replacing the pending record N by its answered form is a cut (N-1
 * records left) and an append; a crash between them would leave a run that says "suspended"
 * but holds no question to answer. So the answered record is first made durable on its own, in
 * <run dir>/answer.json ({"pos": N, "record": {...}}: written to a temporary name, synced,
 * renamed, directory synced), and removed once the journal holds it. The next session of the
 * run (tx_server_recover_answer) finishes or forgets what a crash interrupted.
 */
#define ANSWER_FILE "answer.json"

/* Makes answer.json durable (unless durability is none). Returns 0 or -1 with err set. */
static int save_answer_intent(tx_server *s, long pos, json_t *record, tx_error *err)
{
    json_t *intent = json_pack("{s:I, s:O}", "pos", (json_int_t)pos, "record", record);
    if (intent == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    int rc = tx_evidence_write_json(s->opts.evidence, ANSWER_FILE, intent, err);
    json_decref(intent);
    if (rc != 0 || s->opts.config->durability == TX_DURABILITY_NONE)
        return rc;
    int dfd = tx_evidence_dir_fd(s->opts.evidence);
    int fd = openat(dfd, ANSWER_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0 || fsync(dfd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlinkat(dfd, ANSWER_FILE, 0);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot make %s/%s durable: %s",
                       tx_evidence_dir(s->opts.evidence), ANSWER_FILE, strerror(e));
    }
    close(fd);
    return 0;
}

/* Removes answer.json once the journal holds its record (a leftover is harmless: recovery
 * sees the record answered and removes it). */
static void drop_answer_intent(tx_server *s)
{
    if (s->opts.evidence != NULL)
        unlinkat(tx_evidence_dir_fd(s->opts.evidence), ANSWER_FILE, 0);
}

int tx_server_recover_answer(tx_server *s, char *note, size_t cap, tx_error *err)
{
    note[0] = '\0';
    if (s->opts.evidence == NULL || s->journal == NULL || s->opts.check_only)
        return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", tx_evidence_dir(s->opts.evidence), ANSWER_FILE);
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    json_t *intent =
        S_ISREG(st.st_mode) ? json_load_file(path, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *record = json_object_get(intent, "record");
    json_t *pos_v = json_object_get(intent, "pos");
    long pos = json_is_integer(pos_v) ? (long)json_integer_value(pos_v) : 0;
    const char *kind = json_string_value(json_object_get(record, "kind"));
    long n = tx_server_journal_count(s);
    int rc = 0;
    if (pos < 1 || kind == NULL || strcmp(kind, "human") != 0 ||
        json_integer_value(json_object_get(record, "pos")) != pos ||
        json_object_get(record, "pending") != NULL) {
        /* Not one this broker wrote whole (rename makes it all or nothing): nothing to do. */
        snprintf(note, cap, "ignored a malformed %s", ANSWER_FILE);
    } else if (n == pos - 1) {
        /* The crash came after the pending record was cut: record the answer now. */
        rc = journal_append(s, record, err);
        if (rc == 0)
            snprintf(note, cap, "recorded the answer to position %ld that a crash interrupted",
                     pos);
    } else if (n >= pos) {
        json_t *rec = journal_read(s, pos, err);
        int pending = rec != NULL && json_is_true(json_object_get(rec, "pending"));
        json_decref(rec);
        snprintf(note, cap,
                 pending ? "an answer to position %ld was not recorded (a crash came first): the "
                           "run still waits for it"
                         : "the answer to position %ld was recorded",
                 pos);
    } else {
        snprintf(note, cap, "ignored %s for position %ld: the journal holds %ld records",
                 ANSWER_FILE, pos, n);
    }
    json_decref(intent);
    if (rc == 0)
        drop_answer_intent(s);
    return rc;
}

/* Replaces the pending last record with its answered form. Returns 0 or -1 with err set. */
static int apply_answer(tx_server *s, tx_error *err)
{
    long n = tx_server_journal_count(s);
    json_t *record = pending_last(s, err);
    if (record == NULL)
        return -1;
    const char *kind = json_string_value(json_object_get(record, "name"));
    char emsg[512];
    json_t *value = answer_value(kind ? kind : "input", json_object_get(record, "result"),
                                 s->answer, emsg, sizeof emsg);
    if (value == NULL) {
        json_decref(record);
        return tx_fail(err, TACTUS_EUSAGE, "%s", emsg);
    }
    json_object_del(record, "pending");
    json_object_set_new(record, "result", value);
    /* Replace the pending record: save the answer, cut the record, append the answered one
     * (the answer window above). The journal lock makes this the only resume touching the
     * run. */
    int rc = 0, saved = s->journal != NULL && s->opts.evidence != NULL;
    if (saved)
        rc = save_answer_intent(s, n, record, err);
    if (rc == 0 && saved && s->crash_answer_saved == n)
        raise(SIGKILL);
    if (rc == 0 && s->journal)
        rc = tx_journal_truncate(s->journal, n - 1, err);
    else if (rc == 0)
        memory_journal_keep(s, n - 1);
    if (rc == 0)
        rc = journal_append(s, record, err);
    json_decref(record);
    if (rc == 0 && saved)
        drop_answer_intent(s);
    if (rc == 0) {
        json_decref(s->answer);
        s->answer = NULL;
    }
    return rc;
}

/* journal.answer {pos}: the replay reached the pending request at pos; record the answer the
 * resume was given, if any. */
static json_t *handle_journal_answer(tx_server *s, json_t *params, const char **etype, char *emsg,
                                     size_t cap)
{
    json_t *pos_v = json_object_get(params, "pos");
    long n = tx_server_journal_count(s);
    if (!json_is_integer(pos_v) || json_integer_value(pos_v) != n) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "journal.answer: only the last record can be answered");
        return NULL;
    }
    if (s->answer == NULL)
        return json_pack("{s:b}", "answered", 0);
    tx_error err;
    tx_error_clear(&err);
    if (apply_answer(s, &err) != 0) {
        *etype = "JournalError";
        snprintf(emsg, cap, "%s", err.message);
        return NULL;
    }
    json_t *rec = journal_read(s, n, &err);
    if (rec == NULL) {
        *etype = "JournalError";
        snprintf(emsg, cap, "%s", err.message);
        return NULL;
    }
    json_t *answer = json_object_get(rec, "result");
    json_t *data = json_pack("{s:b, s:O}", "answered", 1, "answer", answer ? answer : json_null());
    json_decref(rec);
    return data;
}

/* ---- artifacts: the run's files/ folder ------------------------------------------------- */

static const char *const artifact_extensions[] = {
    "txt", "md",   "json",  "jsonl", "csv", "tsv", "log",  "html", "xml", "yaml",
    "yml", "diff", "patch", "svg",   "png", "jpg", "jpeg", "gif",  "pdf", NULL};

/* Makes a safe file name: [A-Za-z0-9._-] only, no leading dot, at most 100 bytes, and an
 * extension from the list. Returns 0 or -1 with emsg set. */
static int artifact_name(const char *wanted, char *out, size_t cap, char *emsg, size_t ecap)
{
    size_t n = 0;
    for (const char *p = wanted; *p && n + 1 < cap && n < 100; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (n == 0 && c == '.')
            continue;
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
    const char *dot = strrchr(out, '.');
    if (n == 0 || dot == NULL || dot == out) {
        snprintf(emsg, ecap, "artifact name '%.100s' needs a name and an extension", wanted);
        return -1;
    }
    for (int i = 0; artifact_extensions[i]; i++)
        if (strcasecmp(dot + 1, artifact_extensions[i]) == 0)
            return 0;
    snprintf(emsg, ecap,
             "artifact '%.100s': extension .%.20s is not allowed (txt, md, json, "
             "csv, log, html, yaml, diff, png, pdf, ...)",
             wanted, dot + 1);
    return -1;
}

/* "sha256:<hex>" of len bytes. */
static void sha256_digest(const unsigned char *bytes, size_t len, char *out, size_t cap)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256(hash, bytes, len);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    snprintf(out, cap, "sha256:%s", hex);
}

/* Creates files/<name> without following any link, suffixing -1, -2, ... on a clash. Writes
 * the bytes and returns the name used, or -1 with emsg set. */
static int save_artifact(tx_server *s, const char *name, const unsigned char *bytes, size_t len,
                         char *used, size_t cap, char *emsg, size_t ecap)
{
    int run = open(tx_evidence_dir(s->opts.evidence), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (run < 0) {
        snprintf(emsg, ecap, "cannot open the run directory: %s", strerror(errno));
        return -1;
    }
    if (mkdirat(run, "files", 0700) != 0 && errno != EEXIST) {
        snprintf(emsg, ecap, "cannot create files/: %s", strerror(errno));
        close(run);
        return -1;
    }
    int dir = openat(run, "files", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(run);
    if (dir < 0) {
        snprintf(emsg, ecap, "cannot open files/: %s", strerror(errno));
        return -1;
    }
    const char *dot = strrchr(name, '.');
    int fd = -1;
    for (int i = 0; i < 1000 && fd < 0; i++) {
        if (i == 0)
            snprintf(used, cap, "%s", name);
        else
            snprintf(used, cap, "%.*s-%d%s", (int)(dot - name), name, i, dot);
        fd = openat(dir, used, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    close(dir);
    if (fd < 0) {
        snprintf(emsg, ecap, "cannot create files/%.100s: %s", used, strerror(errno));
        return -1;
    }
    if (tx_write_all(fd, bytes, len) != 0) {
        snprintf(emsg, ecap, "cannot write files/%.100s: %s", used, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) != 0) {
        snprintf(emsg, ecap, "cannot write files/%.100s: %s", used, strerror(errno));
        return -1;
    }
    return 0;
}

static json_t *journal_outcome(tx_server *s, long pos, const char *kind, const char *name,
                               json_t *site, json_t *params, const char *args_digest, double ms,
                               json_t *result, const char **etype, char *emsg, size_t cap);
static json_t *refuse(tx_server *s, const char *method, const char **etype, char *emsg, size_t cap,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void record_forgery(tx_server *s, const char *method, const char *reason);

/*
 * The journal position a request claims (params "pos" and "site"): 0 when it has none, the next
 * position when it is that one with a site, -1 (BadRequest in emsg) otherwise. A request inside
 * a checkpoint also carries "parent" and "seq", which must make the record of `kind` the next
 * child of the running checkpoint (record_fits); a request without a position carries neither.
 */
static long request_position(tx_server *s, json_t *params, const char *method, const char *kind,
                             json_t **site, char *emsg, size_t cap)
{
    json_t *pos_v = json_object_get(params, "pos");
    long pos = json_is_integer(pos_v) ? (long)json_integer_value(pos_v) : 0;
    json_t *parent = json_object_get(params, "parent"), *seq = json_object_get(params, "seq");
    *site = json_object_get(params, "site");
    char why[300];
    if (pos != 0 && (pos != tx_server_journal_count(s) + 1 || !json_is_string(*site))) {
        snprintf(emsg, cap, "%s: journal position %ld out of order", method, pos);
        snprintf(why, sizeof why, "journal position %ld out of order (next is %ld)", pos,
                 tx_server_journal_count(s) + 1);
        record_forgery(s, method, why);
        return -1;
    }
    if (pos == 0 && (parent != NULL || seq != NULL)) {
        snprintf(why, sizeof why, "a checkpoint's child needs its journal position");
    } else if (pos != 0 && !record_fits(s, kind, parent, seq, why, sizeof why)) {
        /* why says what */
    } else {
        return pos;
    }
    snprintf(emsg, cap, "%s: %s", method, why);
    record_forgery(s, method, why);
    return -1;
}

/*
 * The bytes of a request's "content" string: the string itself, or with "base64": true what it
 * decodes to, in *decoded (malloc'd; free it). Returns -1 with emsg for content that is not
 * valid base64.
 */
static int request_content(json_t *params, const unsigned char **bytes, size_t *len,
                           unsigned char **decoded, const char *method, char *emsg, size_t cap)
{
    json_t *content = json_object_get(params, "content");
    const char *text = json_string_value(content);
    size_t text_len = json_string_length(content);
    *decoded = NULL;
    *bytes = (const unsigned char *)text;
    *len = text_len;
    if (!json_is_true(json_object_get(params, "base64")))
        return 0;
    *decoded = malloc(text_len + 1);
    if (*decoded == NULL || sodium_base642bin(*decoded, text_len + 1, text, text_len, NULL, len,
                                              NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(*decoded);
        *decoded = NULL;
        snprintf(emsg, cap, "%s: content is not valid base64", method);
        return -1;
    }
    *bytes = *decoded;
    return 0;
}

/* Saves the artifact files.save asks for. Returns the result {name, bytes, sha256} (new
 * reference), or NULL with etype/emsg set. *stored is set to {redacted, bytes, sha256} of the
 * copy in files/ when redaction changed it (for the evidence only), else left NULL. */
static json_t *save_requested_artifact(tx_server *s, json_t *params, const char *wanted,
                                       json_t **stored, const char **etype, char *emsg, size_t cap)
{
    *stored = NULL;
    *etype = TX_ERR_TOOL_FAILED;
    if (s->opts.evidence == NULL) {
        snprintf(emsg, cap, "artifacts need a run directory (this run writes no evidence)");
        return NULL;
    }
    char name[128], used[160];
    if (artifact_name(wanted, name, sizeof name, emsg, cap) != 0)
        return NULL;
    const unsigned char *bytes;
    unsigned char *decoded;
    size_t bin_len;
    if (request_content(params, &bytes, &bin_len, &decoded, "files.save", emsg, cap) != 0)
        return NULL;
    /* files/ is evidence: it gets the redacted copy. What the runner gets back (and the journal
     * replays) describes the bytes the procedure supplied, so neither the size nor the digest
     * tells it whether anything was masked. */
    json_t *result = NULL;
    size_t stored_len = bin_len, hits = 0;
    char *clean =
        s->redactor && tx_redactor_count(s->redactor) > 0
            ? tx_redact_tail(s->redactor, (const char *)bytes, bin_len, 0, &stored_len, &hits)
            : NULL;
    const unsigned char *out = clean ? (const unsigned char *)clean : bytes;
    char digest[80], stored_digest[80];
    tx_error derr;
    tx_error_clear(&derr);
    if (s->redactor && tx_redactor_count(s->redactor) > 0 && clean == NULL) {
        snprintf(emsg, cap, "out of memory redacting artifact %.100s", name);
    } else if (disk_allows(s, bin_len, "an artifact", &derr) != 0) {
        /* Charged by the supplied size, not the stored one: whether the limit trips must not
         * depend on whether a secret was masked. */
        *etype = "JournalError";
        snprintf(emsg, cap, "%s", derr.message);
    } else if (save_artifact(s, name, out, stored_len, used, sizeof used, emsg, cap) == 0) {
        s->disk_other += bin_len;
        sha256_digest(bytes, bin_len, digest, sizeof digest);
        sha256_digest(out, stored_len, stored_digest, sizeof stored_digest);
        if (hits > 0)
            /* Only the evidence says the stored copy differs; the runner never reads it. */
            *stored = json_pack("{s:b, s:I, s:s}", "redacted", 1, "bytes", (json_int_t)stored_len,
                                "sha256", stored_digest);
        result = json_pack("{s:s, s:I, s:s}", "name", used, "bytes", (json_int_t)bin_len, "sha256",
                           digest);
    }
    free(clean);
    free(decoded);
    return result;
}

/* files.save {name, content, base64?, pos?, site?}: saves one artifact, journaled like a host
 * call (a replay returns the recorded name and writes nothing). A refusal once the position is
 * known (bad name or extension, bad content, no run directory, a failed write) is journaled as
 * the outcome too, so the runner's journal cursor and the broker's record count stay in step
 * and a replay raises the same error at the same position. */
static json_t *handle_files_save(tx_server *s, json_t *params, const char **etype, char *emsg,
                                 size_t cap)
{
    const char *wanted = json_string_value(json_object_get(params, "name"));
    json_t *site;
    *etype = TX_ERR_BAD_REQUEST;
    if (wanted == NULL || !json_is_string(json_object_get(params, "content"))) {
        snprintf(emsg, cap, "files.save needs a name and a content string");
        return NULL;
    }
    long pos = request_position(s, params, "files.save", "artifact", &site, emsg, cap);
    if (pos < 0)
        return NULL;
    json_t *stored = NULL;
    json_t *result = save_requested_artifact(s, params, wanted, &stored, etype, emsg, cap);
    /* A refusal is about the procedure's own name and bytes: never masked (an oracle). */
    if (result != NULL) {
        json_t *event = json_pack("{s:s, s:O}", "type", "artifact", "file", result);
        if (event != NULL && stored != NULL)
            json_object_set(event, "stored", stored);
        tx_error err;
        tx_error_clear(&err);
        if (event != NULL)
            tx_server_record(s, event, &err);
        json_decref(event);
    }
    json_decref(stored);
    /* name: as the procedure asked (what a replay compares); the result has the name actually
     * used. */
    if (pos > 0)
        result = journal_outcome(s, pos, "artifact", wanted, site, params, NULL, 0.0, result, etype,
                                 emsg, cap);
    return result ? json_pack("{s:o}", "result", result) : NULL;
}

/* Asks on the terminal when the broker has one, else suspends: {answer} or {suspend}. */
static json_t *ask_human(tx_server *s, json_t *params, int *from_default, const char **etype,
                         char *emsg, size_t cap)
{
    json_t *request = json_object_get(params, "request");
    const char *kind = json_string_value(json_object_get(request, "kind"));
    const char *message = json_string_value(json_object_get(request, "message"));
    if (kind == NULL) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "human.ask needs a request with a kind");
        return NULL;
    }
    if (!s->opts.interactive || !isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
        return json_pack("{s:b}", "suspend", 1);
    fputc('\n', stderr);
    tx_term_line(stderr, "[human] %s", message ? message : ""); /* the procedure's text */
    if (strcmp(kind, "approve") == 0)
        fprintf(stderr, "approve? [y/n] ");
    else
        fprintf(stderr, "> ");
    fflush(stderr);
    /* With a timeout, nobody answering in time means the request's default (if it has one;
     * without a default the run suspends and waits for `tactus resume`). The run's deadline
     * bounds the wait in any case. */
    json_t *timeout = json_object_get(request, "timeout");
    double secs = json_is_number(timeout) ? json_number_value(timeout) : 0;
    int wait_ms = secs > 0 ? (secs > 86400 ? 86400000 : (int)(secs * 1000)) : -1;
    int by_deadline = 0;
    if (s->deadline_ms > 0) {
        double left = s->deadline_ms - now_ms();
        left = left < 0 ? 0 : left > 86400000 ? 86400000 : left;
        if (wait_ms < 0 || left < wait_ms) {
            wait_ms = (int)left;
            by_deadline = 1;
        }
    }
    if (wait_ms >= 0) {
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        int ready;
        while ((ready = poll(&pfd, 1, wait_ms)) < 0 && errno == EINTR)
            ;
        if (ready == 0 && by_deadline) {
            fprintf(stderr, "\n[human] the run's time is up\n");
            note_deadline(s, "Human.* (waiting for an answer on the terminal)", NULL, etype, emsg,
                          cap);
            return NULL;
        }
        if (ready == 0) {
            json_t *def = json_object_get(request, "default");
            fprintf(stderr, "\n[human] no answer within %g s\n", secs);
            if (def != NULL && !json_is_null(def)) {
                *from_default = 1;
                return json_pack("{s:O}", "answer", def);
            }
            return json_pack("{s:b}", "suspend", 1);
        }
    }
    char line[4096];
    if (fgets(line, sizeof line, stdin) == NULL)
        return json_pack("{s:b}", "suspend", 1);
    line[strcspn(line, "\r\n")] = '\0';
    json_t *answer;
    if (strcmp(kind, "approve") == 0)
        answer = json_boolean(line[0] == 'y' || line[0] == 'Y');
    else if (strcmp(kind, "review") == 0)
        answer = json_pack("{s:s, s:s}", "decision", line[0] == 'n' ? "reject" : "approve",
                           "feedback", line);
    else
        answer = json_string(line);
    return json_pack("{s:o}", "answer", answer ? answer : json_null());
}

/* human.ask {request}: ask_human, remembering what was given so the runner can journal that
 * and nothing else (human_record_matches). */
static json_t *handle_human_ask(tx_server *s, json_t *params, const char **etype, char *emsg,
                                size_t cap)
{
    int from_default = 0;
    json_t *data = ask_human(s, params, &from_default, etype, emsg, cap);
    json_decref(s->human_reply);
    s->human_reply = NULL;
    if (data != NULL) {
        const char *kind =
            json_string_value(json_object_get(json_object_get(params, "request"), "kind"));
        s->human_reply = json_deep_copy(data);
        /* Nobody answered in time: the answer is the procedure's own default, so the record
         * may hold it in whatever form the runner's encoding gives it. */
        if (s->human_reply != NULL && from_default)
            json_object_set_new(s->human_reply, "default", json_true());
        if (s->human_reply == NULL ||
            json_object_set_new(s->human_reply, "kind", json_string(kind)) != 0) {
            json_decref(data);
            *etype = TX_ERR_INTERNAL;
            snprintf(emsg, cap, "out of memory");
            return NULL;
        }
    }
    return data;
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

/*
 * The redactor for what tool `name` produces on its way to the runner: for a host tool, the
 * secrets that tool was given and no other; for a C tool (it runs inside the broker, next to
 * every secret) all of the run's; for host.ping/echo (they return the procedure's own
 * arguments) none. A tool cannot leak a secret it never had, and masking the run's other
 * secrets in what it prints (a diff, a file, its echoed arguments: content the procedure
 * chose) would let the procedure test guesses against them. The evidence is still masked with
 * every secret of the run. NULL means nothing to mask.
 */
static const tx_redactor *tool_mask(tx_server *s, const char *name)
{
    const tx_config *cfg = s->opts.config;
    if (find_c_tool(s, name) != NULL)
        return s->redactor;
    const tx_host_tool *ht = tx_config_host_tool(cfg, name);
    if (ht == NULL || ht->nsecrets == 0)
        return NULL;
    size_t i = (size_t)(ht - cfg->host_tools);
    if (i >= cfg->nhost_tools)
        return s->redactor;
    if (s->tool_masks == NULL &&
        (s->tool_masks = calloc(cfg->nhost_tools, sizeof *s->tool_masks)) == NULL)
        return s->redactor; /* out of memory: mask too much rather than too little */
    if (s->tool_masks[i] != NULL)
        return s->tool_masks[i];
    tx_redactor *r = tx_redactor_new();
    for (size_t k = 0; r != NULL && k < ht->nsecrets; k++)
        for (size_t j = 0; j < s->nsecrets; j++)
            if (strcmp(s->secrets[j].name, ht->secrets[k]) == 0 && s->secrets[j].value != NULL &&
                tx_redactor_add(r, s->secrets[j].name, s->secrets[j].value, s->secrets[j].len) !=
                    0) {
                tx_redactor_free(r);
                r = NULL;
                break;
            }
    if (r == NULL)
        return s->redactor;
    s->tool_masks[i] = r;
    return r;
}

static json_t *run_command_tool(tx_server *s, const tx_host_tool *ht, json_t *args, const char *key,
                                const char **etype, char *emsg, size_t cap);

/*
 * A `sandbox: true` tool runs as `tactus sandbox --workspace CWD --timeout T -- ARGV...`: the
 * same namespaces, seccomp and limits as any untrusted program, its working directory mounted
 * at /workspace. It receives no secrets (the sandbox gives programs an empty environment).
 */
static json_t *run_sandboxed_tool(tx_server *s, const tx_host_tool *ht, json_t *args,
                                  const char *key, const char **etype, char *emsg, size_t cap)
{
    *etype = TX_ERR_TOOL_FAILED;
    if (ht->nsecrets > 0) {
        snprintf(emsg, cap, "tool %s: a sandboxed tool cannot receive secrets", ht->name);
        return NULL;
    }
    char exe[4096];
    ssize_t n = -1;
    if (s->opts.tactus_exe != NULL)
        n = (ssize_t)snprintf(exe, sizeof exe, "%s", s->opts.tactus_exe);
    else
        n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || (size_t)n >= sizeof exe) {
        snprintf(emsg, cap, "tool %s: cannot find the tactus binary to sandbox it", ht->name);
        return NULL;
    }
    exe[n] = '\0';
    char cwd[4096], secs[32];
    const char *base = s->opts.proc_dir ? s->opts.proc_dir : ".";
    if (ht->cwd == NULL || ht->cwd[0] == '\0')
        snprintf(cwd, sizeof cwd, "%s", base);
    else if (ht->cwd[0] == '/')
        snprintf(cwd, sizeof cwd, "%s", ht->cwd);
    else
        snprintf(cwd, sizeof cwd, "%.2000s/%.2000s", base, ht->cwd);
    snprintf(secs, sizeof secs, "%.3f", (double)ht->timeout_ms / 1000.0);
    const char *prefix[] = {exe, "sandbox", "--workspace", cwd, "--timeout", secs, "--"};
    size_t np = sizeof prefix / sizeof prefix[0];
    char **argv = calloc(np + ht->argc + 1, sizeof *argv);
    if (argv == NULL) {
        snprintf(emsg, cap, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < np; i++)
        argv[i] = (char *)prefix[i];
    for (size_t i = 0; i < ht->argc; i++)
        argv[np + i] = ht->argv[i];
    tx_host_tool wrapped = *ht;
    wrapped.argv = argv;
    wrapped.argc = np + ht->argc;
    wrapped.sandboxed = 0;
    wrapped.cwd = NULL; /* the sandbox mounts cwd as /workspace and starts the program there */
    json_t *result = run_command_tool(s, &wrapped, args, key, etype, emsg, cap);
    free(argv);
    return result;
}

/* Runs a sidecar-declared command tool with exactly the secrets it names. */
static json_t *run_command_tool(tx_server *s, const tx_host_tool *ht, json_t *args, const char *key,
                                const char **etype, char *emsg, size_t cap)
{
    tx_tool_secret given[64];
    size_t ngiven = 0;
    for (size_t k = 0; k < ht->nsecrets; k++) {
        const held_secret *h = NULL;
        for (size_t j = 0; j < s->nsecrets; j++)
            if (strcmp(s->secrets[j].name, ht->secrets[k]) == 0)
                h = &s->secrets[j];
        if (h == NULL || h->value == NULL) {
            *etype = TX_ERR_TOOL_FAILED;
            snprintf(emsg, cap, "tool %s needs secret %s, which is not set (tactus secrets set %s)",
                     ht->name, ht->secrets[k], ht->secrets[k]);
            return NULL;
        }
        if (ngiven == sizeof given / sizeof given[0]) {
            *etype = TX_ERR_TOOL_FAILED;
            snprintf(emsg, cap, "tool %s names too many secrets (at most 64)", ht->name);
            return NULL;
        }
        given[ngiven++] = (tx_tool_secret){h->name, h->value, h->len};
    }
    char *args_text = json_dumps(args, JSON_COMPACT);
    tx_hosttool_call call = {.tool = ht,
                             .proc_dir = s->opts.proc_dir,
                             .args_json = args_text,
                             .args_len = args_text ? strlen(args_text) : 0,
                             .run_id = s->opts.run_id,
                             .idempotency_key = key,
                             .secrets = given,
                             .nsecrets = ngiven,
                             .redactor = tool_mask(s, ht->name),
                             .deadline_ms = s->deadline_ms,
                             .adopt_orphans = s->adopt_orphans};
    tx_hosttool_result out;
    memset(&out, 0, sizeof out);
    tx_error err;
    tx_error_clear(&err);
    int have_args = args_text != NULL;
    int rc = have_args ? tx_hosttool_run(&call, &out, &err) : -1;
    free(args_text);
    if (rc != 0) {
        *etype = TX_ERR_INTERNAL;
        snprintf(emsg, cap, "tool %s could not be started: %.900s", ht->name,
                 have_args ? err.message : "out of memory");
        return NULL;
    }
    if (out.run_deadline) {
        char what[200];
        snprintf(what, sizeof what, "host tool %.128s", ht->name);
        note_deadline(s, what, NULL, etype, emsg, cap);
        return NULL;
    }
    if (out.result == NULL) {
        /* error_type lives in `out`, which goes out of scope: map it to a static name. */
        static const char *const known[] = {"ToolFailed",    "ToolTimeout",  "ToolOutputTooLarge",
                                            "ToolBadOutput", "ToolNotFound", NULL};
        *etype = TX_ERR_TOOL_FAILED;
        for (int i = 0; known[i]; i++)
            if (strcmp(out.error_type, known[i]) == 0)
                *etype = known[i];
        snprintf(emsg, cap, "%s", out.error);
        return NULL;
    }
    return out.result;
}

/* Runs an allowed tool. Returns its result (new reference), or NULL with *etype and emsg. */
static json_t *dispatch_tool(tx_server *s, const char *name, json_t *args, const char *key,
                             const char **etype, char *emsg, size_t cap)
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
                /* jansson quotes the offending token cut to fit: say where, not what. */
                char *near = strstr(jerr.text, " near ");
                if (near != NULL)
                    *near = '\0';
                *etype = TX_ERR_TOOL_FAILED;
                snprintf(emsg, cap, "tool %s returned invalid JSON: %s (line %d, column %d)", name,
                         jerr.text, jerr.line, jerr.column);
            }
        } else {
            /* Redacted before it is cut to fit emsg, so no secret loses its end to the cut. */
            char *clean = message && s->redactor
                              ? tx_redact(s->redactor, message, strlen(message), NULL)
                              : NULL;
            *etype = TX_ERR_TOOL_FAILED;
            snprintf(emsg, cap, "tool %s failed: %s", name,
                     clean     ? clean
                     : message ? "(message withheld)"
                               : "(no message)");
            free(clean);
        }
        free(result_text);
        free(message);
        return result;
    }
    const tx_host_tool *ht = tx_config_host_tool(s->opts.config, name);
    if (ht != NULL && ht->sandboxed)
        return run_sandboxed_tool(s, ht, args, key, etype, emsg, cap);
    if (ht != NULL)
        return run_command_tool(s, ht, args, key, etype, emsg, cap);
    *etype = TX_ERR_TOOL_FAILED;
    snprintf(emsg, cap, "tool %s is allowlisted but not defined (declare it under host_tools)",
             name);
    return NULL;
}

/*
 * Journals the outcome of an operation at `pos` (its result, or the error in etype/emsg) before
 * the runner sees it, so a crash after this point replays the outcome instead of repeating
 * the operation. A child of a checkpoint (params has "parent" and "seq", already checked by
 * request_position) records them too. Takes ownership of result; returns it, or NULL with a
 * JournalError when the record could not be kept.
 */
static json_t *journal_outcome(tx_server *s, long pos, const char *kind, const char *name,
                               json_t *site, json_t *params, const char *args_digest, double ms,
                               json_t *result, const char **etype, char *emsg, size_t cap)
{
    json_t *record =
        json_pack("{s:I, s:s, s:s, s:O?, s:s?, s:f, s:f}", "pos", (json_int_t)pos, "kind", kind,
                  "name", name, "site", site, "args", args_digest, "t", wall_ms(), "ms", ms);
    if (record != NULL) {
        json_object_set(record, "result", result ? result : json_null());
        json_object_set_new(record, "error",
                            result ? json_null()
                                   : json_pack("{s:s, s:s}", "type", *etype, "message", emsg));
        json_t *parent = json_object_get(params, "parent"), *seq = json_object_get(params, "seq");
        if (parent != NULL && seq != NULL) {
            json_object_set(record, "parent", parent);
            json_object_set(record, "seq", seq);
        }
    }
    tx_error jerr;
    tx_error_clear(&jerr);
    if (record == NULL || journal_append(s, record, &jerr) != 0) {
        json_decref(result);
        result = NULL;
        *etype = "JournalError";
        snprintf(emsg, cap, "%s", record ? jerr.message : "out of memory");
    }
    json_decref(record);
    return result;
}

static json_t *handle_tool_call(tx_server *s, json_t *params, const char **etype, char *emsg,
                                size_t cap)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "args");
    json_t *site;
    *etype = TX_ERR_BAD_REQUEST;
    long pos = request_position(s, params, "tool.call", "host_call", &site, emsg, cap);
    if (pos < 0)
        return NULL;
    if (name == NULL) {
        snprintf(emsg, cap, "tool.call needs a tool name string");
        return NULL;
    }
    /* From here on a refusal at a position is journaled as the call's outcome, so the runner's
     * cursor and the journal stay in step (and a replay raises the same error). */
    if (!tx_valid_tool_name(name)) {
        snprintf(emsg, cap, "tool.call needs a tool name of 1-%d characters [A-Za-z0-9_.-]",
                 TOOL_NAME_MAX);
        return pos > 0 ? journal_outcome(s, pos, "host_call", name, site, params, NULL, 0.0, NULL,
                                         etype, emsg, cap)
                       : NULL;
    }
    if (args == NULL || json_is_array(args)) {
        /* Lua's empty table arrives as []: treat it as the empty argument object. */
        args = json_object();
    } else if (!json_is_object(args)) {
        snprintf(emsg, cap, "tool.call args must be an object");
        return pos > 0 ? journal_outcome(s, pos, "host_call", name, site, params, NULL, 0.0, NULL,
                                         etype, emsg, cap)
                       : NULL;
    } else {
        json_incref(args);
    }
    /* The idempotency key: the call's position, or inside a checkpoint the checkpoint's
     * position and the child's number there (request_position checked both). Either is the
     * same on every attempt of the call, so a tool can recognise a retry. */
    char key[256];
    json_t *parent = json_object_get(params, "parent"), *seq = json_object_get(params, "seq");
    if (pos > 0 && json_is_integer(parent) && json_is_integer(seq))
        snprintf(key, sizeof key, "%s:%lld.%lld", s->opts.run_id,
                 (long long)json_integer_value(parent), (long long)json_integer_value(seq));
    else if (pos > 0)
        snprintf(key, sizeof key, "%s:%ld", s->opts.run_id, pos);
    else
        snprintf(key, sizeof key, "%s:c%ld", s->opts.run_id, s->host_calls + 1);
    int allowed = tx_config_allows_tool(s->opts.config, name) || find_c_tool(s, name) != NULL;
    double started = now_ms();
    json_t *result = NULL;
    s->host_calls++;
    /* cut: the run's deadline ended (or prevented) the call, which therefore did not happen
     * as far as the journal goes: a resumed run attempts it again, with the same key. */
    int cut = 0;
    char what[200];
    snprintf(what, sizeof what, "host tool %.128s", name);
    if (!allowed) {
        *etype = TX_ERR_TOOL_NOT_ALLOWED;
        snprintf(emsg, cap, "Tool not allowlisted: %s", name); /* the runner's own words */
    } else if (past_deadline(s)) {
        note_deadline(s, what, site, etype, emsg, cap);
        cut = 1;
    } else {
        int noted = tx_server_deadline_hit(s) != NULL;
        if (s->crash_before_tool != 0 && pos == s->crash_before_tool)
            raise(SIGKILL); /* crash tests: the call was asked for, its tool has not run */
        result = dispatch_tool(s, name, args, key, etype, emsg, cap);
        /* What a tool produced is masked before the runner sees it (see tool_mask). */
        const tx_redactor *mask = tool_mask(s, name);
        if (result != NULL && mask != NULL && tx_redact_json_ref(mask, &result, NULL) != 0) {
            json_decref(result);
            result = NULL;
            *etype = TX_ERR_INTERNAL;
            snprintf(emsg, cap, "out of memory redacting the result of %s", name);
        }
        if (result == NULL)
            redact_text(mask, emsg, cap);
        cut = !noted && tx_server_deadline_hit(s) != NULL;
        if (cut || past_deadline(s)) {
            /* Name the call site; a tool that finished after the deadline (a C tool cannot be
             * interrupted) keeps its result, and the run ends right after this reply. */
            s->deadline_where[0] = '\0';
            const char *ty = *etype;
            char keep[1024];
            snprintf(keep, sizeof keep, "%s", emsg);
            note_deadline(s, what, site, etype, emsg, cap);
            if (!cut) {
                *etype = ty;
                snprintf(emsg, cap, "%s", keep);
            }
        }
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
    if (pos > 0 && !cut)
        result = journal_outcome(s, pos, "host_call", name, site, params, digest, duration, result,
                                 etype, emsg, cap);
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

/*
 * file.op {op: "read"|"write"|"stat", path, content?, base64?, pos?, site?}: the File
 * primitive. Paths are relative to the workspace (this process's working directory, the one a
 * sandboxed run sees at /workspace); writing needs a writable workspace. With pos, the outcome
 * is journaled (kind "nondet", name "File.<op>"), so a resumed run sees the same contents and
 * does not write twice.
 */
static json_t *handle_file(tx_server *s, json_t *params, const char **etype, char *emsg, size_t cap)
{
    const char *op = json_string_value(json_object_get(params, "op"));
    const char *path = json_string_value(json_object_get(params, "path"));
    json_t *site;
    const tx_config *cfg = s->opts.config;
    *etype = TX_ERR_BAD_REQUEST;
    if (op == NULL || path == NULL ||
        (strcmp(op, "read") != 0 && strcmp(op, "write") != 0 && strcmp(op, "stat") != 0) ||
        (strcmp(op, "write") == 0 && !json_is_string(json_object_get(params, "content")))) {
        snprintf(emsg, cap,
                 "file.op needs op read/write/stat, a path and (write) a content string");
        return NULL;
    }
    long pos = request_position(s, params, "file.op", "nondet", &site, emsg, cap);
    if (pos < 0)
        return NULL;
    json_t *result = NULL;
    *etype = TX_FILES_FAILED;
    const char *run_dir = s->opts.evidence ? tx_evidence_dir(s->opts.evidence) : NULL;
    const tx_files_guard guard = {cfg, s->opts.proc_dir, run_dir};
    if (run_dir != NULL && tx_files_within(".", path, run_dir)) {
        /* A --run-dir inside the workspace: the run's own journal and evidence. */
        snprintf(emsg, cap, "File: %.200s is protected: it is this run's directory", path);
    } else if (cfg != NULL && !cfg->mount_current_dir) {
        snprintf(emsg, cap,
                 "File.%s: the workspace is not available (sandbox.mount_current_dir: "
                 "false)",
                 op);
    } else if (strcmp(op, "write") == 0 && cfg != NULL &&
               (cfg->workspace_read_only || cfg->profile == TX_PROFILE_OFFLINE ||
                cfg->profile == TX_PROFILE_REPO_READ)) {
        snprintf(emsg, cap, "File.write: the workspace is read-only (sandbox.%s)",
                 cfg->workspace_read_only ? "workspace: ro" : "profile");
    } else if (strcmp(op, "write") == 0) {
        const unsigned char *bytes;
        unsigned char *decoded;
        size_t len;
        tx_error derr;
        tx_error_clear(&derr);
        if (request_content(params, &bytes, &len, &decoded, "File.write", emsg, cap) != 0) {
            /* emsg says why */
        } else if (disk_allows(s, len, "File.write", &derr) != 0) {
            free(decoded);
            *etype = "JournalError";
            snprintf(emsg, cap, "%s", derr.message);
            return NULL; /* the run is over: nothing more is journaled */
        } else if (tx_files_write(".", &guard, path, bytes, len, etype, emsg, cap) == 0) {
            s->disk_other += len;
            result = json_true();
        }
        free(decoded);
    } else if (strcmp(op, "read") == 0) {
        result = tx_files_read(".", &guard, path, etype, emsg, cap);
    } else {
        result = tx_files_stat(".", &guard, path, etype, emsg, cap);
    }
    /* Not redacted: the workspace's files and these messages (paths the procedure chose) are the
     * procedure's own content; masking them would make the redactor an oracle it can query. The
     * journal keeps them exactly; steps.json, the evidence copy, is redacted. */
    if (pos > 0) {
        char name[16];
        snprintf(name, sizeof name, "File.%s", op);
        result = journal_outcome(s, pos, "nondet", name, site, params, NULL, 0.0, result, etype,
                                 emsg, cap);
    }
    return result ? json_pack("{s:o}", "result", result) : NULL;
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

/*
 * Reads a module file opened with O_NONBLOCK: it must be a regular file of at most
 * MODULE_MAX_BYTES, read to its end (short reads continue; a file that grows while it is read
 * is refused, so the size checked is the size read). Returns 0 with *buf (malloc'd, NUL-terminated)
 * and *len, or -1.
 */
static int read_module_file(int fd, char **buf, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)MODULE_MAX_BYTES)
        return -1;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return -1;
    size_t cap = (size_t)st.st_size; /* one byte more is read to see the end */
    char *b = malloc(cap + 1);
    if (b == NULL)
        return -1;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, b + n, cap + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (size_t)r > cap - n) {
            free(b);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
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
        /* O_NONBLOCK: a FIFO (or a device) planted under a module's name must not block the
         * broker in open(); it is refused by the regular-file check right after. */
        int fd = tx_files_open_beneath(dirfd, candidates[i], O_RDONLY | O_NONBLOCK, 0);
        if (fd < 0) {
            if (errno == ENOENT)
                continue;
            snprintf(emsg, cap, "module %.200s: cannot open %.250s: %s", name, candidates[i],
                     errno == EXDEV || errno == ELOOP ? "path leaves the procedure directory"
                                                      : strerror(errno));
            close(dirfd);
            return NULL;
        }
        char *buf = NULL;
        size_t got = 0;
        if (read_module_file(fd, &buf, &got) != 0) {
            snprintf(emsg, cap, "module %.200s: %.250s is not a regular file of at most %u bytes",
                     name, candidates[i], MODULE_MAX_BYTES);
            close(fd);
            close(dirfd);
            return NULL;
        }
        close(fd);
        json_t *src = json_stringn(buf, got);
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
    /* Checked after the write: an event is at most one frame, so the overshoot is bounded. */
    if (s->tripped < 0 && disk_allows(s, 0, "an event", &err) != 0) {
        *etype = "JournalError";
        snprintf(emsg, cap, "%s", err.message);
        return NULL;
    }
    return json_pack("{s:b}", "ok", 1);
}

/* Records a refused token (never the token itself). */
static void record_refusal(tx_server *s, const char *method, const char *why)
{
    record_refused(s, "token_refused", method, why);
}

/* Checks the phase gate for a request; returns 1 to go on, 0 with etype/emsg set to refuse. */
static int phase_allows(tx_server *s, const tx_request *req, const char **etype, char *emsg,
                        size_t cap)
{
    if (s->opts.tokens == NULL)
        return 1;
    const char *method = req->method;
    int kind = -1;
    if (strcmp(method, "session.setup") == 0)
        kind = TX_TOKEN_SETUP;
    else if (strcmp(method, "session.run") == 0)
        kind = TX_TOKEN_RUN;
    else if (strcmp(method, TX_METHOD_RUN_FINISH) == 0)
        kind = TX_TOKEN_UPLOAD;
    if (kind < 0) {
        if (tx_tokens_phase(s->opts.tokens) == TX_PHASE_RUNNING)
            return 1;
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "%s is not allowed in this phase of the run", method);
        record_refusal(s, method, "out of phase");
        return 0;
    }
    tx_error err;
    tx_error_clear(&err);
    const char *token = json_string_value(json_object_get(req->params, "token"));
    if (tx_tokens_redeem(s->opts.tokens, (tx_token_kind)kind, token, &err) != 0) {
        *etype = TX_ERR_BAD_REQUEST;
        snprintf(emsg, cap, "%s refused: %.900s", method, err.message);
        record_refusal(s, method, err.message);
        return 0;
    }
    return 1;
}

/* The methods whose work is one handler: params in, done data (or etype/emsg) out. */
typedef json_t *(*method_handler)(tx_server *s, json_t *params, const char **etype, char *emsg,
                                  size_t cap);

static method_handler find_handler(const char *method)
{
    static const struct {
        const char *method;
        method_handler handler;
    } handlers[] = {
        {TX_METHOD_TOOL_CALL, handle_tool_call},   {TX_METHOD_EVENTS_EMIT, handle_emit},
        {"files.save", handle_files_save},         {"file.op", handle_file},
        {"journal.append", handle_journal_append}, {"journal.read", handle_journal_read},
        {"journal.answer", handle_journal_answer}, {"journal.truncate", handle_journal_truncate},
        {"human.ask", handle_human_ask},           {TX_METHOD_MODULE_LOAD, handle_module_load},
    };
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (strcmp(method, handlers[i].method) == 0)
            return handlers[i].handler;
    return NULL;
}

json_t *tx_server_handle(tx_server *s, const tx_request *req)
{
    const char *etype = TX_ERR_INTERNAL;
    char emsg[1024] = "";
    json_t *data = NULL;
    method_handler handler;
    if (s->tripped >= 0 && strcmp(req->method, TX_METHOD_RUN_FINISH) != 0) {
        /* JournalError ends the run in the runner, uncatchably; the result is rewritten to
         * status limit by the trusted side (tx_server_apply_limit) whatever the runner says.
         * Nothing else is written for the run, events included. */
        etype = "JournalError";
        snprintf(emsg, sizeof emsg, "the run was stopped: %.900s", s->trip_message);
    } else if (!phase_allows(s, req, &etype, emsg, sizeof emsg)) {
        /* refused: answered below */
    } else if (s->deferred_error[0] != '\0' && req->id != NULL &&
               strcmp(req->method, TX_METHOD_RUN_FINISH) != 0 &&
               strcmp(req->method, TX_METHOD_EVENTS_EMIT) != 0) {
        etype = "JournalError";
        snprintf(emsg, sizeof emsg, "an earlier journal record was refused: %.900s",
                 s->deferred_error);
    } else if (strcmp(req->method, "session.setup") == 0 ||
               strcmp(req->method, "session.run") == 0) {
        data = json_pack("{s:b}", "ok", 1);
    } else if ((handler = find_handler(req->method)) != NULL) {
        data = handler(s, req->params, &etype, emsg, sizeof emsg);
    } else if (strcmp(req->method, TX_METHOD_RUN_FINISH) == 0) {
        json_t *result = json_object_get(req->params, "result");
        if (json_is_object(result) && s->result == NULL) {
            s->result = json_incref(result);
            if (s->deferred_error[0] != '\0') {
                /* The run believed its records were kept: say they were not. */
                json_decref(s->result);
                s->result =
                    json_pack("{s:s, s:n, s:{s:s, s:s}}", "status", "system", "output", "error",
                              "type", "JournalError", "message", s->deferred_error);
            }
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
        /* A notification gets no answer; a journal.append that failed this way (durability
         * none sends records without waiting) fails the next request instead. */
        if (data == NULL && strcmp(req->method, "journal.append") == 0 &&
            s->deferred_error[0] == '\0')
            snprintf(s->deferred_error, sizeof s->deferred_error, "%.400s", emsg);
        json_decref(data);
        return NULL;
    }
    if (data != NULL)
        return tx_msg_done(req->id, data);
    return tx_msg_error(req->id, etype, emsg);
}

/* ---- in-process channel ---------------------------------------------------------------- */

static int direct_notify(void *ud, const char *method, json_t *params, tx_error *err)
{
    (void)err;
    tx_server *s = ud;
    tx_request req = {NULL, NULL, method, params};
    json_t *resp = tx_server_handle(s, &req);
    json_decref(resp);
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
    tx_channel ch = {s, direct_notify, direct_call};
    return ch;
}
