/*
 * bench_checkpoint.c - the run journal (broker/journal.c) against baselines measured in the
 * same run, on the same disk:
 *   durable appends/s   vs a raw write(2)+fdatasync loop of the same line size   (goal >= 0.9x)
 *                       vs SQLite WAL, synchronous=FULL, one INSERT per commit    (goal >= 1.2x)
 *   open + verify of a 10,000-record journal, records/s                          (goal >= 500k/s)
 *   durability "none" append latency                                             (goal <= 5 us)
 * and, to explain the numbers, what jansson and BLAKE2b cost on their own.
 *
 * Usage: bench_checkpoint [--dir DIR] [--ops N]. DIR defaults to a fresh directory under
 * /var/tmp (a real disk: tmpfs would make fdatasync free and the comparison meaningless); the
 * files are removed at the end. SQLite is loaded with dlopen("libsqlite3.so.0") so the bench
 * builds without its headers; without the library that baseline is skipped.
 *
 * Durable rows run in interleaved rounds (raw, journal, SQLite, raw, ...) so a noisy shared
 * disk hits all three alike; SQLite is warmed up first until its WAL recycles, which is its
 * steady state and its fastest. Latencies are of the call alone (record building excluded).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"

#define ROUNDS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Latency samples of one measured operation. */
typedef struct series {
    const char *name;
    double *lat; /* seconds per call */
    size_t n, cap;
    double total; /* sum of lat */
} series;

static void series_init(series *s, const char *name, size_t cap)
{
    s->name = name;
    s->lat = malloc(cap * sizeof *s->lat);
    if (s->lat == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    s->n = 0;
    s->cap = cap;
    s->total = 0;
}

static void series_add(series *s, double dt)
{
    if (s->n < s->cap)
        s->lat[s->n++] = dt;
    s->total += dt;
}

static double series_pct(series *s, double p)
{
    if (s->n == 0)
        return 0;
    qsort(s->lat, s->n, sizeof *s->lat, cmp_double);
    size_t i = (size_t)(p * (double)(s->n - 1));
    return s->lat[i];
}

static double series_rate(const series *s)
{
    return s->total > 0 ? (double)s->n / s->total : 0;
}

static void series_print(series *s)
{
    printf("  %-34s %9.0f ops/s   mean %8.2f us   p50 %8.2f us   p99 %8.2f us\n", s->name,
           series_rate(s), s->total / (double)s->n * 1e6, series_pct(s, 0.50) * 1e6,
           series_pct(s, 0.99) * 1e6);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_checkpoint: %s: %s\n", what, why);
    exit(1);
}

/* A realistic ~200-byte record for pos (a new object: the journal keeps a reference). */
static json_t *make_record(long pos)
{
    json_t *r = json_pack("{s:I, s:s, s:s, s:s, s:s, s:{s:b, s:i, s:s}, s:n, s:f, s:f}", "pos",
                          (json_int_t)pos, "kind", "checkpoint", "name", "fetch_data", "site",
                          "proc.tac:12", "args", "b2:00112233445566778899aabbccddeeff", "result",
                          "ok", 1, "count", (int)(pos % 1000), "etag", "W/\"5e1f\"", "error", "t",
                          1767225600123.456 + (double)pos, "ms", 0.812);
    if (r == NULL)
        die("json_pack", "failed");
    return r;
}

/* ---- SQLite through dlopen ------------------------------------------------------------- */

typedef struct sqlite_api {
    void *lib;
    int (*open)(const char *, void **);
    int (*exec)(void *, const char *, void *, void *, char **);
    int (*prepare)(void *, const char *, int, void **, const char **);
    int (*bind_int64)(void *, int, long long);
    int (*bind_text)(void *, int, const char *, int, void (*)(void *));
    int (*step)(void *);
    int (*reset)(void *);
    int (*finalize)(void *);
    int (*close)(void *);
    const char *(*errmsg)(void *);
} sqlite_api;

#define SQLITE_OK 0
#define SQLITE_DONE 101

static int sqlite_load(sqlite_api *a)
{
    memset(a, 0, sizeof *a);
    a->lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
    if (a->lib == NULL)
        return -1;
    /* POSIX guarantees object <-> function pointer conversion through dlsym. */
    *(void **)&a->open = dlsym(a->lib, "sqlite3_open");
    *(void **)&a->exec = dlsym(a->lib, "sqlite3_exec");
    *(void **)&a->prepare = dlsym(a->lib, "sqlite3_prepare_v2");
    *(void **)&a->bind_int64 = dlsym(a->lib, "sqlite3_bind_int64");
    *(void **)&a->bind_text = dlsym(a->lib, "sqlite3_bind_text");
    *(void **)&a->step = dlsym(a->lib, "sqlite3_step");
    *(void **)&a->reset = dlsym(a->lib, "sqlite3_reset");
    *(void **)&a->finalize = dlsym(a->lib, "sqlite3_finalize");
    *(void **)&a->close = dlsym(a->lib, "sqlite3_close");
    *(void **)&a->errmsg = dlsym(a->lib, "sqlite3_errmsg");
    if (!a->open || !a->exec || !a->prepare || !a->bind_int64 || !a->bind_text || !a->step ||
        !a->reset || !a->finalize || !a->close || !a->errmsg) {
        dlclose(a->lib);
        a->lib = NULL;
        return -1;
    }
    return 0;
}

typedef struct sqlite_bench {
    sqlite_api *api;
    void *db, *insert;
    long next;
} sqlite_bench;

static void sqlite_setup(sqlite_bench *b, sqlite_api *api, const char *path)
{
    b->api = api;
    b->next = 1;
    if (api->open(path, &b->db) != SQLITE_OK)
        die("sqlite3_open", path);
    char *msg = NULL;
    if (api->exec(b->db,
                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                  "CREATE TABLE journal(pos INTEGER PRIMARY KEY, line TEXT NOT NULL);",
                  NULL, NULL, &msg) != SQLITE_OK)
        die("sqlite3 setup", msg ? msg : "?");
    if (api->prepare(b->db, "INSERT INTO journal(pos, line) VALUES (?, ?)", -1, &b->insert, NULL) !=
        SQLITE_OK)
        die("sqlite3_prepare_v2", api->errmsg(b->db));
}

/* One autocommit INSERT: one transaction, one WAL fsync. */
static void sqlite_insert(sqlite_bench *b, const char *line, int len)
{
    b->api->bind_int64(b->insert, 1, b->next++);
    b->api->bind_text(b->insert, 2, line, len, NULL);
    if (b->api->step(b->insert) != SQLITE_DONE)
        die("sqlite3_step", b->api->errmsg(b->db));
    b->api->reset(b->insert);
}

/* ---- main ------------------------------------------------------------------------------ */

static void verdict(const char *what, double value, double goal, int higher_is_better)
{
    int ok = higher_is_better ? value >= goal : value <= goal;
    printf("  %-52s %8.2f   goal %s %.2f   %s\n", what, value, higher_is_better ? ">=" : "<=", goal,
           ok ? "MET" : "MISSED");
}

int main(int argc, char **argv)
{
    const char *dir_arg = NULL;
    long ops = 400; /* per round and per contender */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir_arg = argv[++i];
        else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0)
            ops = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_checkpoint [--dir DIR] [--ops N]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        die("sodium_init", "failed");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tactus-bench-XXXXXX", dir_arg ? dir_arg : "/var/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", strerror(errno));
    char jpath[600], rawpath[600], dbpath[600], openpath[600], nonepath[600], batchpath[600];
    snprintf(jpath, sizeof jpath, "%s/durable.jsonl", dir);
    snprintf(rawpath, sizeof rawpath, "%s/raw.log", dir);
    snprintf(dbpath, sizeof dbpath, "%s/sqlite.db", dir);
    snprintf(openpath, sizeof openpath, "%s/open10k.jsonl", dir);
    snprintf(nonepath, sizeof nonepath, "%s/none.jsonl", dir);
    snprintf(batchpath, sizeof batchpath, "%s/batch.jsonl", dir);
    tx_journal_meta meta = {"bench-run", "sha256:source", "sha256:input", "bench"};
    tx_error err;

    /* ---- durable: journal vs raw vs SQLite, interleaved ---- */
    /* The line size, measured on the file at rest (no reserve): header alone, then + 1 record. */
    tx_journal *j;
    struct stat st0, st1;
    if (tx_journal_open(jpath, &meta, TX_DURABILITY_FSYNC, &j, NULL, &err) != 0)
        die("open", err.message);
    tx_journal_close(j);
    stat(jpath, &st0);
    if (tx_journal_open(jpath, &meta, TX_DURABILITY_FSYNC, &j, NULL, &err) != 0)
        die("open", err.message);
    json_t *r = make_record(1);
    if (tx_journal_append(j, r, &err) != 0)
        die("append", err.message);
    json_decref(r);
    tx_journal_close(j);
    stat(jpath, &st1);
    int line_len = (int)(st1.st_size - st0.st_size);
    if (tx_journal_open(jpath, &meta, TX_DURABILITY_FSYNC, &j, NULL, &err) != 0)
        die("open", err.message);
    char *line = malloc((size_t)line_len);
    memset(line, 'x', (size_t)line_len);
    line[line_len - 1] = '\n';
    int raw = open(rawpath, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (raw < 0)
        die(rawpath, strerror(errno));

    sqlite_api api;
    int have_sqlite = sqlite_load(&api) == 0;
    sqlite_bench sb;
    if (have_sqlite) {
        sqlite_setup(&sb, &api, dbpath);
        for (int i = 0; i < 1200; i++) /* past the first WAL checkpoint: steady state */
            sqlite_insert(&sb, line, line_len);
    }
    for (int i = 0; i < 50; i++) { /* warm the raw file and journal paths a little too */
        if (write(raw, line, (size_t)line_len) != line_len || fdatasync(raw) != 0)
            die("raw warm-up", strerror(errno));
    }
    series s_raw, s_j, s_sql;
    size_t cap = (size_t)ops * ROUNDS;
    series_init(&s_raw, "raw write+fdatasync", cap);
    series_init(&s_j, "journal append (fsync)", cap);
    series_init(&s_sql, "SQLite WAL FULL insert", cap);
    long pos = 2;
    for (int round = 0; round < ROUNDS; round++) {
        for (long i = 0; i < ops; i++) {
            double t0 = now_s();
            if (write(raw, line, (size_t)line_len) != line_len || fdatasync(raw) != 0)
                die("raw", strerror(errno));
            series_add(&s_raw, now_s() - t0);
        }
        for (long i = 0; i < ops; i++) {
            json_t *rec = make_record(pos++);
            double t0 = now_s();
            if (tx_journal_append(j, rec, &err) != 0)
                die("append", err.message);
            series_add(&s_j, now_s() - t0);
            json_decref(rec);
        }
        if (have_sqlite) {
            for (long i = 0; i < ops; i++) {
                double t0 = now_s();
                sqlite_insert(&sb, line, line_len);
                series_add(&s_sql, now_s() - t0);
            }
        }
    }
    tx_journal_close(j);
    close(raw);
    if (have_sqlite) {
        api.finalize(sb.insert);
        api.close(sb.db);
    }

    /* ---- batch ---- */
    if (tx_journal_open(batchpath, &meta, TX_DURABILITY_BATCH, &j, NULL, &err) != 0)
        die("open", err.message);
    series s_batch;
    series_init(&s_batch, "journal append (batch)", 5000);
    for (long p = 1; p <= 5000; p++) {
        json_t *rec = make_record(p);
        double t0 = now_s();
        if (tx_journal_append(j, rec, &err) != 0)
            die("append", err.message);
        series_add(&s_batch, now_s() - t0);
        json_decref(rec);
    }
    double t0 = now_s();
    if (tx_journal_sync(j, &err) != 0)
        die("sync", err.message);
    s_batch.total += now_s() - t0;
    tx_journal_close(j);

    /* ---- durability none, and what its parts cost ---- */
    long nn = 20000;
    if (tx_journal_open(nonepath, &meta, TX_DURABILITY_NONE, &j, NULL, &err) != 0)
        die("open", err.message);
    series s_none, s_dump, s_sum, s_write;
    series_init(&s_none, "journal append (none)", (size_t)nn);
    series_init(&s_dump, "  of which: json_dumpb of the record", (size_t)nn);
    series_init(&s_sum, "  of which: BLAKE2b-128 of the line", (size_t)nn);
    series_init(&s_write, "  of which: write(2), no sync (raw)", (size_t)nn);
    char dumpbuf[4096];
    unsigned char h[16];
    int raw2 = open(rawpath, O_WRONLY | O_APPEND | O_CLOEXEC);
    for (long p = 1; p <= nn; p++) {
        json_t *rec = make_record(p);
        t0 = now_s();
        if (tx_journal_append(j, rec, &err) != 0)
            die("append", err.message);
        series_add(&s_none, now_s() - t0);
        t0 = now_s();
        size_t n = json_dumpb(rec, dumpbuf, sizeof dumpbuf, JSON_COMPACT);
        series_add(&s_dump, now_s() - t0);
        t0 = now_s();
        crypto_generichash(h, sizeof h, (unsigned char *)dumpbuf, n, NULL, 0);
        series_add(&s_sum, now_s() - t0);
        t0 = now_s();
        if (write(raw2, line, (size_t)line_len) != line_len)
            die("raw", strerror(errno));
        series_add(&s_write, now_s() - t0);
        json_decref(rec);
    }
    tx_journal_close(j);
    close(raw2);

    /* ---- open + verify of 10,000 records ---- */
    long nrec = 10000;
    if (tx_journal_open(openpath, &meta, TX_DURABILITY_NONE, &j, NULL, &err) != 0)
        die("open", err.message);
    for (long p = 1; p <= nrec; p++) {
        json_t *rec = make_record(p);
        if (tx_journal_append(j, rec, &err) != 0)
            die("append", err.message);
        json_decref(rec);
    }
    tx_journal_close(j);
    series s_open;
    series_init(&s_open, "open+verify 10k records", 9);
    for (int i = 0; i < 9; i++) {
        tx_journal_report rep;
        t0 = now_s();
        if (tx_journal_open(openpath, NULL, TX_DURABILITY_FSYNC, &j, &rep, &err) != 0)
            die("open", err.message);
        series_add(&s_open, now_s() - t0);
        if (tx_journal_count(j) != nrec)
            die("open", "wrong record count");
        tx_journal_close(j);
    }
    /* The same file's lines, parsed by jansson alone and hashed alone. */
    FILE *f = fopen(openpath, "r");
    if (f == NULL)
        die(openpath, strerror(errno));
    char *text = NULL;
    size_t text_cap = 0;
    double parse_s = 0, sum_s = 0;
    ssize_t got;
    while ((got = getline(&text, &text_cap, f)) > 0) {
        char *tab = memrchr(text, '\t', (size_t)got);
        if (tab == NULL)
            die(openpath, "line without a tab");
        t0 = now_s();
        crypto_generichash(h, sizeof h, (unsigned char *)text, (size_t)(tab - text), NULL, 0);
        double t1 = now_s();
        json_t *v = json_loadb(text, (size_t)(tab - text), JSON_ALLOW_NUL, NULL);
        parse_s += now_s() - t1;
        sum_s += t1 - t0;
        json_decref(v);
    }
    free(text);
    fclose(f);

    /* ---- report ---- */
    printf("tactus journal benchmark: dir %s, journal line %d bytes, %d rounds x %ld ops\n", dir,
           line_len, ROUNDS, ops);
    printf("durable (one fdatasync per record):\n");
    series_print(&s_raw);
    series_print(&s_j);
    if (have_sqlite)
        series_print(&s_sql);
    else
        printf("  SQLite baseline skipped: libsqlite3.so.0 not found\n");
    printf("relaxed:\n");
    series_print(&s_batch);
    series_print(&s_none);
    series_print(&s_dump);
    series_print(&s_sum);
    series_print(&s_write);
    double open_best = series_pct(&s_open, 0.0), open_med = series_pct(&s_open, 0.5);
    printf("open + verify %ld records: best %.2f ms (%.0f records/s), median %.2f ms (%.0f "
           "records/s)\n",
           nrec, open_best * 1e3, (double)nrec / open_best, open_med * 1e3,
           (double)nrec / open_med);
    printf("  of which, measured alone: jansson json_loadb %.2f ms (%.0f records/s), BLAKE2b "
           "%.2f ms\n",
           parse_s * 1e3, (double)nrec / parse_s, sum_s * 1e3);
    printf("goals (ratios against baselines from this run):\n");
    verdict("durable appends/s, journal / raw append+fdatasync",
            series_rate(&s_j) / series_rate(&s_raw), 0.9, 1);
    if (have_sqlite)
        verdict("durable appends/s, journal / SQLite WAL FULL",
                series_rate(&s_j) / series_rate(&s_sql), 1.2, 1);
    printf("  (p50 latency ratios, less sensitive to a noisy disk: raw/journal %.2f",
           series_pct(&s_raw, 0.5) / series_pct(&s_j, 0.5));
    if (have_sqlite)
        printf(", SQLite/journal %.2f", series_pct(&s_sql, 0.5) / series_pct(&s_j, 0.5));
    printf(")\n");
    verdict("open+verify, thousand records/s (median)", (double)nrec / open_med / 1e3, 500, 1);
    verdict("durability none append, p50 us (mean above)", series_pct(&s_none, 0.5) * 1e6, 5, 0);
    printf("note: durable rates are bounded by the disk's flush and CPU figures by whatever else\n"
           "runs; on a shared virtual machine both vary run to run, so compare ratios from one\n"
           "run, and several runs, not absolute numbers.\n");

    unlink(jpath);
    unlink(rawpath);
    unlink(dbpath);
    char extra[700];
    snprintf(extra, sizeof extra, "%s-wal", dbpath);
    unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", dbpath);
    unlink(extra);
    unlink(openpath);
    unlink(nonepath);
    unlink(batchpath);
    rmdir(dir);
    free(line);
    free(s_raw.lat);
    free(s_j.lat);
    free(s_sql.lat);
    free(s_batch.lat);
    free(s_none.lat);
    free(s_dump.lat);
    free(s_sum.lat);
    free(s_write.lat);
    free(s_open.lat);
    if (have_sqlite)
        dlclose(api.lib);
    return 0;
}
