/* journal.c - the append-only run journal (journal.h, docs/durability.md). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SUM_BYTES 16
#define SUM_HEX (2 * SUM_BYTES)
#define LINE_TAIL (1 + SUM_HEX + 1) /* '\t', the hex checksum, '\n' */

enum crash_point {
    CRASH_NONE,
    CRASH_BEFORE_WRITE,
    CRASH_AFTER_WRITE,
    CRASH_AFTER_SYNC,
    CRASH_TORN_WRITE
};

/*
 * Why a reserve: appending to a file changes its size, so every fdatasync must also commit
 * the inode through the file system's journal, which roughly doubles the cost of a durable
 * append on ext4 (and makes it wait behind every other writer's metadata). So the file is
 * kept ahead of the data by a reserve of written zero bytes, TX_JOURNAL_RESERVE_STEP at a
 * time, and a record is a pwrite into it: the fdatasync then only flushes data, as SQLite's
 * recycled WAL does. Lines never contain a NUL byte (JSON escapes it), so zeros after the last line
 * are unambiguous: open keeps them as reserve, and close (and truncate) cut them off, so a journal
 * at rest is plain lines.
 */
struct tx_journal {
    int fd;     /* O_RDWR (pwrite at explicit offsets), flock'ed for the journal's lifetime */
    off_t phys; /* file length: ends[count] plus the zero reserve */
    char *path;
    tx_durability durability;
    json_t *header; /* the header object; meta's strings point into it */
    tx_journal_meta meta;
    /* No record is kept in memory, only where each one ends: a run's journal may be far larger
     * than the broker should hold, and replay reads records back from the file one at a time
     * (tx_journal_read). */
    off_t *ends;     /* ends[i] is the offset just past line i (line 0 is the header) */
    long count, cap; /* records in the file; slots in ends (cap + 1) */
    char *line;      /* append buffer, reused so the hot path does not allocate */
    size_t line_cap;
    uint64_t max_bytes;     /* tx_journal_set_max_bytes; 0: only TX_JOURNAL_MAX_BYTES */
    size_t last_line;       /* length of the line the last append formatted */
    long unsynced;          /* batch mode: records written since the last fdatasync */
    int name_unsynced;      /* created, header written, directory entry not yet fsync'd */
    int64_t unsynced_since; /* CLOCK_MONOTONIC ns of the oldest of those */
    int opened;             /* tx_journal_open succeeded: close may trim the reserve */
    int broken;             /* a write or sync failed: refuse to go on */
    int readonly;           /* tx_journal_open_readonly: the file is never written */
    char broken_why[256];
    enum crash_point crash_point; /* TACTUS_CRASH_AT, read at open */
    long crash_pos;
};

/* ---- fields ---------------------------------------------------------------------------- */

enum { T_INT = 1, T_STR = 2, T_NULL = 4, T_OBJ = 8, T_NUM = 16, T_BOOL = 32, T_ANY = 64 };

typedef struct field_spec {
    const char *name;
    int types;      /* T_* mask of accepted JSON types */
    int optional;   /* may be absent */
    int non_empty;  /* a string must not be "" */
    const char *ex; /* what to say when the type is wrong */
} field_spec;

static const field_spec record_fields[] = {
    {"pos", T_INT, 0, 0, "an integer"},
    {"kind", T_STR, 0, 1, "a non-empty string"},
    {"name", T_STR | T_NULL, 0, 0, "a string or null"},
    {"site", T_STR | T_NULL, 0, 0, "a string or null"},
    {"args", T_STR | T_NULL, 0, 0, "a string or null"},
    {"result", T_ANY, 0, 0, "any JSON value"},
    {"error", T_OBJ | T_NULL, 0, 0, "an object or null"},
    {"t", T_NUM, 0, 0, "a number"},
    {"ms", T_NUM, 0, 0, "a number"},
    {"pending", T_BOOL, 1, 0, "a boolean"},
    {"parent", T_INT, 1, 0, "an integer"},
    {"seq", T_INT, 1, 0, "an integer"},
};

static const field_spec header_fields[] = {
    {"journal", T_STR, 0, 1, "a string"},
    {"format", T_INT, 0, 0, "an integer"},
    {"run_id", T_STR, 0, 1, "a non-empty string"},
    {"source_digest", T_STR | T_NULL, 0, 0, "a string or null"},
    {"input_digest", T_STR | T_NULL, 0, 0, "a string or null"},
    {"version", T_STR | T_NULL, 0, 0, "a string or null"},
    {"created_at", T_STR, 0, 1, "a non-empty string"},
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static int type_ok(const json_t *v, int types)
{
    if (types & T_ANY)
        return 1;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return (types & (T_INT | T_NUM)) != 0;
    case JSON_REAL:
        return (types & T_NUM) != 0;
    case JSON_STRING:
        return (types & T_STR) != 0;
    case JSON_NULL:
        return (types & T_NULL) != 0;
    case JSON_OBJECT:
        return (types & T_OBJ) != 0;
    case JSON_TRUE:
    case JSON_FALSE:
        return (types & T_BOOL) != 0;
    default:
        return 0;
    }
}

/* Checks that obj is an object with exactly the fields of spec (optional ones may be missing),
 * each of an accepted type. Returns 0, or -1 with the first problem described in why. */
static int check_fields(const json_t *obj, const field_spec *spec, size_t n, char *why, size_t cap)
{
    if (!json_is_object(obj)) {
        snprintf(why, cap, "not a JSON object");
        return -1;
    }
    size_t present = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, spec[i].name);
        if (v == NULL) {
            if (spec[i].optional)
                continue;
            snprintf(why, cap, "field '%s' is missing", spec[i].name);
            return -1;
        }
        present++;
        if (!type_ok(v, spec[i].types) ||
            (spec[i].non_empty && json_is_string(v) && json_string_length(v) == 0)) {
            snprintf(why, cap, "field '%s' must be %s", spec[i].name, spec[i].ex);
            return -1;
        }
    }
    if (json_object_size(obj) == present)
        return 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (i < n && strcmp(spec[i].name, key) != 0)
            i++;
        if (i == n) {
            snprintf(why, cap, "unknown field '%.64s'", key);
            return -1;
        }
    }
    return 0;
}

/* A record for position want: the shape of record_fields and pos == want. */
static int check_record(const json_t *rec, long want, char *why, size_t cap)
{
    if (check_fields(rec, record_fields, NFIELDS(record_fields), why, cap) != 0)
        return -1;
    json_int_t pos = json_integer_value(json_object_get(rec, "pos"));
    if (pos != want) {
        snprintf(why, cap, "field 'pos' is %lld where %ld was expected", (long long)pos, want);
        return -1;
    }
    /* A child of a checkpoint (docs/durability.md "Operations inside a checkpoint") names the
     * position its checkpoint started at and its number there: children are consecutive
     * records from that position, so seq is pos - parent + 1. */
    json_t *parent = json_object_get(rec, "parent"), *seq = json_object_get(rec, "seq");
    if ((parent == NULL) != (seq == NULL)) {
        snprintf(why, cap, "fields 'parent' and 'seq' go together");
        return -1;
    }
    if (parent != NULL && (json_integer_value(parent) < 1 || json_integer_value(parent) > pos ||
                           json_integer_value(seq) != pos - json_integer_value(parent) + 1)) {
        snprintf(why, cap, "fields 'parent' %lld and 'seq' %lld do not fit position %lld",
                 (long long)json_integer_value(parent), (long long)json_integer_value(seq),
                 (long long)pos);
        return -1;
    }
    return 0;
}

static int check_header(const json_t *h, char *why, size_t cap)
{
    if (check_fields(h, header_fields, NFIELDS(header_fields), why, cap) != 0)
        return -1;
    if (strcmp(json_string_value(json_object_get(h, "journal")), "tactus") != 0) {
        snprintf(why, cap, "header field 'journal' is not \"tactus\"");
        return -1;
    }
    json_int_t format = json_integer_value(json_object_get(h, "format"));
    if (format != 1) {
        snprintf(why, cap, "format %lld is not supported (this build reads format 1)",
                 (long long)format);
        return -1;
    }
    return 0;
}

/* ---- lines ----------------------------------------------------------------------------- */

/* Writes the 32 lowercase hex digits of the BLAKE2b-128 hash of json[0..len) into hex. */
static void line_sum(const char *json, size_t len, char hex[SUM_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char h[SUM_BYTES];
    /* Cannot fail: output and key lengths are constants within libsodium's bounds. */
    (void)crypto_generichash(h, sizeof h, (const unsigned char *)json, len, NULL, 0);
    for (size_t i = 0; i < SUM_BYTES; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }
    hex[SUM_HEX] = '\0';
}

/* True when the SUM_HEX bytes at sum are the checksum of json[0..len). */
static int sum_matches(const char *json, size_t len, const char *sum)
{
    char hex[SUM_HEX + 1];
    line_sum(json, len, hex);
    return memcmp(hex, sum, SUM_HEX) == 0;
}

/* True when the line content seg[0..len) (no '\n') starts with "JSON\tSUM" for the first tab,
 * or ends with it for the last tab: i.e. it holds at least one line a writer completed. */
static int holds_checksummed_line(const char *seg, size_t len)
{
    const char *tab = memchr(seg, '\t', len);
    if (tab != NULL && (size_t)(tab - seg) + 1 + SUM_HEX <= len &&
        sum_matches(seg, (size_t)(tab - seg), tab + 1))
        return 1;
    tab = memrchr(seg, '\t', len);
    return tab != NULL && (size_t)(tab - seg) + 1 + SUM_HEX == len &&
           sum_matches(seg, (size_t)(tab - seg), tab + 1);
}

/* Renders v into j->line as a complete journal line; *len gets its length. The buffer grows
 * as needed and is kept, so steady-state appends do not allocate. */
static int format_line(tx_journal *j, const json_t *v, size_t *len, tx_error *err)
{
    for (;;) {
        size_t room = j->line_cap - LINE_TAIL; /* line_cap starts at 1024 (open) */
        size_t n = json_dumpb(v, j->line, room, JSON_COMPACT);
        if (n == 0)
            return tx_fail(err, TACTUS_EUSAGE,
                           "journal %s: record cannot be encoded as JSON (invalid UTF-8?)",
                           j->path);
        if (n <= room) {
            j->line[n] = '\t';
            line_sum(j->line, n, j->line + n + 1);
            j->line[n + 1 + SUM_HEX] = '\n';
            *len = n + LINE_TAIL;
            return 0;
        }
        size_t want = n + LINE_TAIL + 1;
        size_t cap = j->line_cap;
        while (cap < want)
            cap *= 2;
        char *p = realloc(j->line, cap);
        if (p == NULL)
            return tx_fail(err, TACTUS_ESYSTEM, "journal %s: out of memory encoding a record",
                           j->path);
        j->line = p;
        j->line_cap = cap;
    }
}

/* Writes buf[0..len) at offset off, continuing after short writes and EINTR. Returns 0, or
 * -1 with errno set. *done (may be NULL) gets the number of bytes written either way. */
static int pwrite_all(int fd, const char *buf, size_t len, off_t off, size_t *done)
{
    if (done != NULL)
        *done = 0;
    while (len > 0) {
        ssize_t n = pwrite(fd, buf, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO; /* a regular file never writes 0 bytes of a non-empty buffer */
            return -1;
        }
        buf += n;
        off += n;
        len -= (size_t)n;
        if (done != NULL)
            *done += (size_t)n;
    }
    return 0;
}

/* Writes zero bytes over [from, to). Returns 0, or -1 with errno set. */
static int zero_fill(int fd, off_t from, off_t to)
{
    char zeros[16384];
    memset(zeros, 0, sizeof zeros);
    while (from < to) {
        size_t n = to - from < (off_t)sizeof zeros ? (size_t)(to - from) : sizeof zeros;
        if (pwrite_all(fd, zeros, n, from, NULL) != 0)
            return -1;
        from += (off_t)n;
    }
    return 0;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Makes room for n records. */
static int ensure_cap(tx_journal *j, long n, tx_error *err)
{
    if (n <= j->cap)
        return 0;
    long cap = j->cap ? j->cap : 256;
    while (cap < n)
        cap *= 2;
    off_t *ends = realloc(j->ends, (size_t)(cap + 1) * sizeof *ends);
    if (ends == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s: out of memory", j->path);
    j->ends = ends;
    j->cap = cap;
    return 0;
}

/* ---- fault injection ------------------------------------------------------------------- */

/* Reads TACTUS_CRASH_AT=<point>:<pos>. Unset or empty: no crash point. Point names this layer
 * does not know belong to other layers and are ignored; a malformed value is an error. */
static int parse_crash_env(enum crash_point *cp, long *pos, tx_error *err)
{
    static const struct {
        const char *name;
        enum crash_point cp;
    } points[] = {{"before_write", CRASH_BEFORE_WRITE},
                  {"after_write", CRASH_AFTER_WRITE},
                  {"after_sync", CRASH_AFTER_SYNC},
                  {"torn_write", CRASH_TORN_WRITE}};
    *cp = CRASH_NONE;
    *pos = 0;
    const char *v = getenv("TACTUS_CRASH_AT");
    if (v == NULL || *v == '\0')
        return 0;
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v || colon[1] < '1' || colon[1] > '9')
        return tx_fail(err, TACTUS_EUSAGE,
                       "TACTUS_CRASH_AT=%.100s: expected <point>:<position>, position >= 1", v);
    char *end;
    errno = 0;
    long n = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0')
        return tx_fail(err, TACTUS_EUSAGE, "TACTUS_CRASH_AT=%.100s: bad position '%.40s'", v,
                       colon + 1);
    for (size_t i = 0; i < NFIELDS(points); i++) {
        if (strlen(points[i].name) == (size_t)(colon - v) &&
            memcmp(points[i].name, v, (size_t)(colon - v)) == 0) {
            *cp = points[i].cp;
            *pos = n;
        }
    }
    return 0;
}

static void crash_if(const tx_journal *j, enum crash_point cp, long pos)
{
    if (j->crash_point == cp && j->crash_pos == pos)
        raise(SIGKILL);
}

/* ---- open ------------------------------------------------------------------------------ */

/* fsyncs the directory that holds path, so a newly created name survives a power loss. */
static int fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir =
        slash == NULL ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (dir == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Names the run for messages: create_meta's run_id, else the run directory's name. */
static void run_label(const char *path, const tx_journal_meta *meta, char *buf, size_t cap)
{
    if (meta != NULL && meta->run_id != NULL) {
        snprintf(buf, cap, "%s", meta->run_id);
        return;
    }
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path) {
        snprintf(buf, cap, "%s", path);
        return;
    }
    const char *start = slash - 1;
    while (start > path && start[-1] != '/')
        start--;
    snprintf(buf, cap, "%.*s", (int)(slash - start), start);
}

/* Points j->meta into j->header. */
static void set_meta(tx_journal *j)
{
    j->meta.run_id = json_string_value(json_object_get(j->header, "run_id"));
    j->meta.source_digest = json_string_value(json_object_get(j->header, "source_digest"));
    j->meta.input_digest = json_string_value(json_object_get(j->header, "input_digest"));
    j->meta.version = json_string_value(json_object_get(j->header, "version"));
}

/* Writes a fresh header from meta into the (empty) file and makes it durable. */
static int write_header(tx_journal *j, const tx_journal_meta *meta, tx_error *err)
{
    struct timespec ts;
    struct tm tm;
    char base[32], created[48];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(created, sizeof created, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
    json_t *h =
        json_pack("{s:s, s:i, s:s, s:s?, s:s?, s:s?, s:s}", "journal", "tactus", "format", 1,
                  "run_id", meta->run_id, "source_digest", meta->source_digest, "input_digest",
                  meta->input_digest, "version", meta->version, "created_at", created);
    if (h == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "journal %s: cannot build the header (bad UTF-8?)",
                       j->path);
    size_t len;
    if (format_line(j, h, &len, err) != 0) {
        json_decref(h);
        return -1;
    }
    /* Not synced here: a journal with no record holds nothing to lose, and the first durable
     * append syncs the header with it (name_unsynced). A run that never journals anything
     * then costs no disk flush at all. */
    j->name_unsynced = j->durability != TX_DURABILITY_NONE;
    if (pwrite_all(j->fd, j->line, len, 0, NULL) != 0) {
        int e = errno;
        json_decref(h);
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s: cannot write the header: %s", j->path,
                       strerror(e));
    }
    json_decref(j->header);
    j->header = h;
    set_meta(j);
    j->ends[0] = (off_t)len;
    j->phys = (off_t)len;
    return 0;
}

/* Verifies one line's content seg[0..len) (without its '\n') as line number idx (0 = header).
 * On success *val owns the parsed object. On failure fills why, and sets *sum_ok when the
 * checksum was valid (so the content was written like this on purpose: not a torn write). */
static int check_line(const char *seg, size_t len, long idx, json_t **val, int *sum_ok, char *why,
                      size_t cap)
{
    *val = NULL;
    *sum_ok = 0;
    const char *tab = memrchr(seg, '\t', len);
    if (tab == NULL || (size_t)(tab - seg) + 1 + SUM_HEX != len) {
        snprintf(why, cap, "no checksum at the end of the line");
        return -1;
    }
    size_t jlen = (size_t)(tab - seg);
    if (!sum_matches(seg, jlen, tab + 1)) {
        snprintf(why, cap, "checksum mismatch");
        return -1;
    }
    *sum_ok = 1;
    json_error_t jerr;
    json_t *v = json_loadb(seg, jlen, JSON_ALLOW_NUL, &jerr);
    if (v == NULL) {
        snprintf(why, cap, "invalid JSON at column %d: %s", jerr.column, jerr.text);
        return -1;
    }
    char what[200];
    if ((idx == 0 ? check_header(v, what, sizeof what) : check_record(v, idx, what, sizeof what)) !=
        0) {
        snprintf(why, cap, "%s %s", idx == 0 ? "header:" : "record:", what);
        json_decref(v);
        return -1;
    }
    *val = v;
    return 0;
}

/* Maps the whole file read-only (*buf, *size; *buf is NULL for an empty file). The mapping,
 * unlike a copy, lets load() hand back the pages it has verified (release_before), so opening a
 * long journal does not hold all of it in memory. */
static int map_file(tx_journal *j, char **buf, size_t *size, tx_error *err)
{
    struct stat st;
    *buf = NULL;
    *size = 0;
    if (fstat(j->fd, &st) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s: %s", j->path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return tx_fail(err, TACTUS_EUSAGE, "journal %s is not a regular file", j->path);
    if (st.st_size > TX_JOURNAL_MAX_BYTES)
        return tx_fail(err, TACTUS_ELIMIT, "journal %s is %lld bytes; at most %ld are read",
                       j->path, (long long)st.st_size, TX_JOURNAL_MAX_BYTES);
    if (st.st_size == 0)
        return 0;
    /* Nobody else writes the file (we hold the lock), so it cannot shrink under the map. */
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, j->fd, 0);
    if (m == MAP_FAILED)
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s: cannot map it: %s", j->path,
                       strerror(errno));
    *buf = m;
    *size = (size_t)st.st_size;
    return 0;
}

/* Drops the mapped pages wholly before offset off: load() never looks back. */
static void release_before(char *buf, size_t off, size_t *released)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t upto = off / page * page;
    if (buf != NULL && upto >= *released + ((size_t)8 << 20)) {
        (void)madvise(buf + *released, upto - *released, MADV_DONTNEED);
        *released = upto;
    }
}

static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '\0')
            return 0;
    return 1;
}

/* Loads and verifies an existing file; cuts a torn tail (journal.h states the rules). */
static int load(tx_journal *j, const tx_journal_meta *create_meta, tx_journal_report *rep,
                tx_error *err)
{
    char *buf = NULL;
    size_t size = 0, released = 0;
    if (map_file(j, &buf, &size, err) != 0)
        return -1;
    size_t off = 0;
    long idx = 0; /* line number - 1; also the pos of the record on it */
    char why[256] = "";
    int rc = -1;
    while (off < size) {
        const char *nl = memchr(buf + off, '\n', size - off);
        if (nl == NULL) {
            snprintf(why, sizeof why, "incomplete line (no newline)");
            break;
        }
        size_t end = (size_t)(nl - buf) + 1;
        json_t *v;
        int sum_ok;
        if (check_line(buf + off, end - off - 1, idx, &v, &sum_ok, why, sizeof why) != 0) {
            if (sum_ok) {
                tx_fail(err, TACTUS_ESYSTEM,
                        "journal %s corrupt at position %ld (line %ld, byte offset %zu): %s; the "
                        "line's checksum is valid, so this is not a torn write; nothing was "
                        "truncated",
                        j->path, idx, idx + 1, off, why);
                goto out;
            }
            break;
        }
        if (ensure_cap(j, idx, err) != 0) {
            json_decref(v);
            goto out;
        }
        if (idx == 0) {
            j->header = v;
            set_meta(j);
        } else {
            json_decref(v); /* verified; read back from the file when replay needs it */
            j->count = idx;
        }
        j->ends[idx] = (off_t)end;
        off = end;
        idx++;
        release_before(buf, off, &released);
    }

    j->phys = (off_t)size;
    if (off < size && !all_zero(buf + off, size - off)) {
        /* Cut only what an interrupted append could have left: a prefix of one line, maybe
         * followed by garbage or zeros, but never a line some writer completed. (Zeros alone
         * are the reserve, kept as such.) */
        const char *nl = memchr(buf + off, '\n', size - off);
        size_t seg_end = nl ? (size_t)(nl - buf) : size;
        size_t seg_len = seg_end - off;
        const char *tab = memchr(buf + off, '\t', seg_len);
        size_t first = tab ? (size_t)(tab - (buf + off)) + 1 + SUM_HEX : 0;
        int damage = 0;
        if (tab != NULL && first + 1 < seg_len &&
            sum_matches(buf + off, first - 1 - SUM_HEX, tab + 1)) {
            /* A complete line whose '\n' was damaged, merged with what followed: damage if
             * what followed also holds a complete line (a damaged last '\n' is just a tail). */
            damage = holds_checksummed_line(buf + off + first + 1, seg_len - first - 1);
        }
        size_t later = seg_end;
        while (!damage && later < size) {
            size_t s = later + 1;
            if (s >= size)
                break;
            const char *n2 = memchr(buf + s, '\n', size - s);
            later = n2 ? (size_t)(n2 - buf) : size;
            damage = holds_checksummed_line(buf + s, later - s);
        }
        if (damage) {
            tx_fail(err, TACTUS_ESYSTEM,
                    "journal %s corrupt at position %ld (line %ld, byte offset %zu): %s, and "
                    "valid lines follow, so this is damage, not a torn write; nothing was "
                    "truncated",
                    j->path, idx, idx + 1, off, why);
            goto out;
        }
        if (idx == 0 && create_meta == NULL)
            goto no_header;
        if (j->readonly) {
            /* Reported, not cut: a read-only open changes nothing. */
            if (rep != NULL) {
                rep->dropped_bytes = (long)(size - off);
                rep->dropped_at_offset = (long)off;
                snprintf(rep->note, sizeof rep->note,
                         "%zu bytes of torn tail at byte offset %zu (line %ld: %.100s), left as "
                         "they are",
                         size - off, off, idx + 1, why);
            }
        } else if (ftruncate(j->fd, (off_t)off) != 0 ||
                   (j->durability != TX_DURABILITY_NONE && fdatasync(j->fd) != 0)) {
            tx_fail(err, TACTUS_ESYSTEM, "journal %s: cannot cut the torn tail at offset %zu: %s",
                    j->path, off, strerror(errno));
            goto out;
        } else {
            j->phys = (off_t)off;
        }
        if (rep != NULL && !j->readonly) {
            rep->dropped_bytes = (long)(size - off);
            rep->dropped_at_offset = (long)off;
            snprintf(rep->note, sizeof rep->note,
                     "dropped %zu bytes of torn tail at byte offset %zu (line %ld: %.100s)",
                     size - off, off, idx + 1, why);
        }
    }
    if (idx == 0) {
        /* Empty, zeros, or a torn header: the creator died before the header was durable. */
        if (create_meta == NULL)
            goto no_header;
        if (ftruncate(j->fd, 0) != 0) {
            tx_fail(err, TACTUS_ESYSTEM, "journal %s: cannot reset: %s", j->path, strerror(errno));
            goto out;
        }
        if (write_header(j, create_meta, err) != 0)
            goto out;
        if (rep != NULL && rep->dropped_bytes == 0)
            snprintf(rep->note, sizeof rep->note, "empty journal: header written");
    } else if (create_meta != NULL && strcmp(create_meta->run_id, j->meta.run_id) != 0) {
        tx_fail(err, TACTUS_EUSAGE, "journal %s belongs to run '%.100s', not '%.100s'", j->path,
                j->meta.run_id, create_meta->run_id);
        goto out;
    }
    rc = 0;
    goto out;
no_header:
    tx_fail(err, TACTUS_ESYSTEM,
            "journal %s has no complete header (%zu bytes; a crash during creation?)", j->path,
            size);
out:
    if (buf != NULL)
        munmap(buf, size);
    return rc;
}

/* tx_journal_open and tx_journal_open_readonly: `readonly` opens O_RDONLY, never creates,
 * cuts nothing and refuses every write later. */
static int journal_open(const char *path, const tx_journal_meta *create_meta,
                        tx_durability durability, int readonly, tx_journal **out,
                        tx_journal_report *report, tx_error *err)
{
    if (out == NULL || path == NULL || *path == '\0')
        return tx_fail(err, TACTUS_EUSAGE, "tx_journal_open: no path or no result pointer");
    *out = NULL;
    if (report != NULL) {
        memset(report, 0, sizeof *report);
        report->dropped_at_offset = -1;
    }
    if (create_meta != NULL && (create_meta->run_id == NULL || *create_meta->run_id == '\0'))
        return tx_fail(err, TACTUS_EUSAGE, "journal %s: the run id is empty", path);
    if (durability != TX_DURABILITY_FSYNC && durability != TX_DURABILITY_BATCH &&
        durability != TX_DURABILITY_NONE)
        return tx_fail(err, TACTUS_EUSAGE, "journal %s: unknown durability mode %d", path,
                       (int)durability);
    enum crash_point cp;
    long cpos;
    if (parse_crash_env(&cp, &cpos, err) != 0)
        return -1;
    if (sodium_init() < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "libsodium failed to initialise");

    tx_journal *j = calloc(1, sizeof *j);
    if (j == NULL || (j->path = strdup(path)) == NULL) {
        free(j);
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    }
    j->fd = -1;
    j->durability = durability;
    j->readonly = readonly;
    j->crash_point = cp;
    j->crash_pos = cpos;
    if (ensure_cap(j, 1, err) != 0)
        goto fail;
    j->line_cap = 1024;
    if ((j->line = malloc(j->line_cap)) == NULL) {
        tx_fail(err, TACTUS_ESYSTEM, "out of memory");
        goto fail;
    }

    int created = 0;
    if (create_meta != NULL) {
        j->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (j->fd >= 0)
            created = 1;
        else if (errno != EEXIST) {
            tx_fail(err, TACTUS_ESYSTEM, "cannot create journal %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (j->fd < 0) {
        j->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (j->fd < 0) {
            int e = errno;
            tx_fail(err, e == ENOENT ? TACTUS_EUSAGE : TACTUS_ESYSTEM, "cannot open journal %s: %s",
                    path, strerror(e));
            goto fail;
        }
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char label[128];
        run_label(path, create_meta, label, sizeof label);
        if (e == EWOULDBLOCK)
            tx_fail(err, TACTUS_EUSAGE, "run %s is in use by another process (%s is locked)", label,
                    path);
        else
            tx_fail(err, TACTUS_ESYSTEM, "cannot lock journal %s: %s", path, strerror(e));
        goto fail;
    }
    if (created) {
        if (write_header(j, create_meta, err) != 0) {
            unlink(path); /* ours, locked, and never valid */
            goto fail;
        }
        if (report != NULL)
            snprintf(report->note, sizeof report->note, "created");
    } else if (load(j, create_meta, report, err) != 0) {
        goto fail;
    }
    if (report != NULL)
        report->records = j->count;
    j->opened = 1;
    *out = j;
    return 0;
fail:
    tx_journal_close(j);
    return -1;
}

int tx_journal_open(const char *path, const tx_journal_meta *create_meta, tx_durability durability,
                    tx_journal **out, tx_journal_report *report, tx_error *err)
{
    return journal_open(path, create_meta, durability, 0, out, report, err);
}

int tx_journal_open_readonly(const char *path, const char *run_id, tx_journal **out,
                             tx_journal_report *report, tx_error *err)
{
    if (run_id == NULL || *run_id == '\0')
        return journal_open(path, NULL, TX_DURABILITY_NONE, 1, out, report, err);
    if (journal_open(path, NULL, TX_DURABILITY_NONE, 1, out, report, err) != 0)
        return -1;
    if (strcmp((*out)->meta.run_id, run_id) != 0) {
        tx_fail(err, TACTUS_EUSAGE, "journal %s belongs to run '%.100s', not '%.100s'", path,
                (*out)->meta.run_id, run_id);
        tx_journal_close(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ---- accessors ------------------------------------------------------------------------- */

const tx_journal_meta *tx_journal_meta_get(const tx_journal *j)
{
    return &j->meta;
}

long tx_journal_count(const tx_journal *j)
{
    return j->count;
}

json_t *tx_journal_read(const tx_journal *j, long pos, tx_error *err)
{
    if (pos < 1 || pos > j->count) {
        tx_fail(err, TACTUS_EUSAGE, "journal %s has no record %ld (it holds %ld)", j->path, pos,
                j->count);
        return NULL;
    }
    off_t from = j->ends[pos - 1];
    size_t len = (size_t)(j->ends[pos] - from), got = 0;
    char *buf = malloc(len);
    if (buf == NULL) {
        tx_fail(err, TACTUS_ESYSTEM, "journal %s: out of memory reading record %ld", j->path, pos);
        return NULL;
    }
    while (got < len) {
        ssize_t n = pread(j->fd, buf + got, len - got, from + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    json_t *v = NULL;
    int sum_ok;
    char why[256] = "the file is shorter than when it was written";
    if (got == len && buf[len - 1] == '\n')
        (void)check_line(buf, len - 1, pos, &v, &sum_ok, why, sizeof why);
    free(buf);
    if (v == NULL)
        tx_fail(err, TACTUS_ESYSTEM,
                "journal %s: record %ld changed on disk since it was checked: %s", j->path, pos,
                why);
    return v;
}

uint64_t tx_journal_bytes(const tx_journal *j)
{
    return (uint64_t)j->ends[j->count];
}

void tx_journal_set_max_bytes(tx_journal *j, uint64_t max)
{
    j->max_bytes = max;
}

size_t tx_journal_last_line(const tx_journal *j)
{
    return j->last_line;
}

/* ---- writing --------------------------------------------------------------------------- */

/* A write or sync of record pos failed with errno e after len bytes of its line went to old,
 * when the file was phys_old long: put the file back as it was (that length, zeros there),
 * stop taking appends, and say so (with `lost`, the batch records of unknown durability). */
static int fail_append(tx_journal *j, long pos, off_t old, size_t len, off_t phys_old,
                       const char *what, int e, const char *lost, tx_error *err)
{
    j->broken = 1;
    snprintf(j->broken_why, sizeof j->broken_why, "%s failed: %s", what, strerror(e));
    off_t hi = old + (off_t)len < phys_old ? old + (off_t)len : phys_old;
    if (ftruncate(j->fd, phys_old) == 0 && (hi <= old || zero_fill(j->fd, old, hi) == 0))
        j->phys = phys_old;
    else if (ftruncate(j->fd, old) == 0) /* second best: lose the reserve, not data */
        j->phys = old;
    else
        return tx_fail(err, TACTUS_ESYSTEM,
                       "journal %s: record %ld: %s; and cutting the partial line back to %lld "
                       "bytes failed too (%s): the next open will drop it%s",
                       j->path, pos, j->broken_why, (long long)old, strerror(errno), lost);
    return tx_fail(err, TACTUS_ESYSTEM,
                   "journal %s: record %ld was not recorded: %s; the journal takes no more "
                   "records%s",
                   j->path, pos, j->broken_why, lost);
}

int tx_journal_append(tx_journal *j, json_t *record, tx_error *err)
{
    if (j->readonly)
        return tx_fail(err, TACTUS_EUSAGE, "journal %s is open read-only", j->path);
    if (j->broken)
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s takes no more records: an earlier %s",
                       j->path, j->broken_why);
    long pos = j->count + 1;
    char why[200];
    if (check_record(record, pos, why, sizeof why) != 0)
        return tx_fail(err, TACTUS_EUSAGE, "journal %s: record %ld: %s", j->path, pos, why);
    if (ensure_cap(j, pos, err) != 0)
        return -1;
    size_t len;
    if (format_line(j, record, &len, err) != 0)
        return -1;
    j->last_line = len;
    off_t old = j->ends[j->count], phys_old = j->phys, need = old + (off_t)len;
    if (j->max_bytes > 0 && (uint64_t)need > j->max_bytes)
        return tx_fail(err, TACTUS_ELIMIT,
                       "journal %s: record %ld (%zu bytes) would grow the journal to %lld bytes, "
                       "past the %llu allowed",
                       j->path, pos, len, (long long)need, (unsigned long long)j->max_bytes);
    if ((uint64_t)need > (uint64_t)TX_JOURNAL_MAX_BYTES)
        return tx_fail(err, TACTUS_ELIMIT,
                       "journal %s: record %ld would grow the journal past %ld bytes", j->path, pos,
                       TX_JOURNAL_MAX_BYTES);
    if (need > phys_old && TX_JOURNAL_RESERVE_STEP > 0) {
        /* Grow the reserve. If even that is refused (disk or file-size limit), take it back
         * and write just the line: the line alone may still fit. */
        off_t step = TX_JOURNAL_RESERVE_STEP > 0 ? TX_JOURNAL_RESERVE_STEP : 1;
        off_t target = (need / step + 1) * step;
        if (target > TX_JOURNAL_MAX_BYTES)
            target = TX_JOURNAL_MAX_BYTES;
        if (zero_fill(j->fd, phys_old, target) == 0)
            j->phys = target;
        else if (ftruncate(j->fd, phys_old) != 0)
            return fail_append(j, pos, old, len, phys_old, "growing the file", errno, "", err);
    }

    if (j->crash_point != CRASH_NONE) {
        crash_if(j, CRASH_BEFORE_WRITE, pos);
        if (j->crash_point == CRASH_TORN_WRITE && j->crash_pos == pos) {
            (void)pwrite_all(j->fd, j->line, len / 2, old, NULL);
            raise(SIGKILL);
        }
    }
    size_t done;
    if (pwrite_all(j->fd, j->line, len, old, &done) != 0)
        return fail_append(j, pos, old, done, phys_old, "write", errno, "", err);
    if (need > j->phys)
        j->phys = need;
    if (j->crash_point != CRASH_NONE)
        crash_if(j, CRASH_AFTER_WRITE, pos);

    if (j->name_unsynced) {
        /* First record of a new journal: make its directory entry durable too. */
        if (fsync_parent(j->path) != 0)
            return fail_append(j, pos, old, len, phys_old, "fsync of the directory", errno, "",
                               err);
        j->name_unsynced = 0;
    }
    if (j->durability == TX_DURABILITY_FSYNC) {
        if (fdatasync(j->fd) != 0)
            return fail_append(j, pos, old, len, phys_old, "fdatasync", errno, "", err);
    } else if (j->durability == TX_DURABILITY_BATCH) {
        int64_t now = mono_ns();
        if (j->unsynced == 0)
            j->unsynced_since = now;
        if (j->unsynced + 1 >= TX_JOURNAL_BATCH_RECORDS ||
            now - j->unsynced_since >= TX_JOURNAL_BATCH_NS) {
            if (fdatasync(j->fd) != 0) {
                int e = errno;
                char lost[96] = "";
                if (j->unsynced > 0)
                    snprintf(lost, sizeof lost, "; records %ld..%ld may not be durable",
                             pos - j->unsynced, pos - 1);
                return fail_append(j, pos, old, len, phys_old, "fdatasync", e, lost, err);
            }
            j->unsynced = 0;
        } else {
            j->unsynced++;
        }
    }
    if (j->crash_point != CRASH_NONE)
        crash_if(j, CRASH_AFTER_SYNC, pos);

    j->ends[pos] = old + (off_t)len;
    j->count = pos;
    return 0;
}

int tx_journal_sync(tx_journal *j, tx_error *err)
{
    if (j->readonly)
        return 0; /* nothing was written */
    if (j->broken)
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s cannot be synced: an earlier %s", j->path,
                       j->broken_why);
    if (j->durability != TX_DURABILITY_BATCH || j->unsynced == 0)
        return 0;
    if (fdatasync(j->fd) != 0) {
        int e = errno;
        j->broken = 1;
        snprintf(j->broken_why, sizeof j->broken_why, "fdatasync failed: %s", strerror(e));
        return tx_fail(err, TACTUS_ESYSTEM,
                       "journal %s: %s; records %ld..%ld may not be durable; the journal takes "
                       "no more records",
                       j->path, j->broken_why, j->count - j->unsynced + 1, j->count);
    }
    j->unsynced = 0;
    return 0;
}

int tx_journal_truncate(tx_journal *j, long keep, tx_error *err)
{
    if (j->readonly)
        return tx_fail(err, TACTUS_EUSAGE, "journal %s is open read-only", j->path);
    if (j->broken)
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s cannot be truncated: an earlier %s",
                       j->path, j->broken_why);
    if (keep < 0 || keep > j->count)
        return tx_fail(err, TACTUS_EUSAGE,
                       "journal %s: cannot keep %ld records: it holds %ld (0..%ld allowed)",
                       j->path, keep, j->count, j->count);
    if (keep == j->count)
        return 0;
    if (ftruncate(j->fd, j->ends[keep]) != 0) /* fails as a whole: nothing changed */
        return tx_fail(err, TACTUS_ESYSTEM, "journal %s: cannot truncate to %ld records: %s",
                       j->path, keep, strerror(errno));
    j->count = keep;
    j->phys = j->ends[keep];
    if (j->durability != TX_DURABILITY_NONE) {
        if (fdatasync(j->fd) != 0) {
            int e = errno;
            j->broken = 1;
            snprintf(j->broken_why, sizeof j->broken_why, "fdatasync failed: %s", strerror(e));
            return tx_fail(err, TACTUS_ESYSTEM,
                           "journal %s: truncated to %ld records but %s; the journal takes no "
                           "more records",
                           j->path, keep, j->broken_why);
        }
        j->unsynced = 0; /* the fdatasync covered the kept records too */
    }
    return 0;
}

void tx_journal_close(tx_journal *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0) {
        /* Leave plain lines behind: cut the reserve (a crash before this leaves zeros, which
         * the next open takes as reserve again). Records are already durable in fsync mode. */
        if (j->opened && !j->readonly && j->phys > j->ends[j->count])
            (void)ftruncate(j->fd, j->ends[j->count]);
        if (j->durability == TX_DURABILITY_BATCH && j->unsynced > 0 && !j->broken)
            (void)fdatasync(j->fd);
        close(j->fd); /* releases the flock */
    }
    json_decref(j->header);
    free(j->ends);
    free(j->line);
    free(j->path);
    free(j);
}
