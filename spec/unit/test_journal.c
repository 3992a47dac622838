/*
 * test_journal.c - the append-only run journal (broker/journal.c): format, exact round trip
 * of values, torn tails at every byte offset, bit flips in every byte of a middle and of the
 * last record, hand-made corruption, the run lock, disk full (RLIMIT_FSIZE), truncation,
 * batch mode, and the TACTUS_CRASH_AT fault-injection points (each in a SIGKILLed child).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"

static const tx_journal_meta META = {"run-1", "sha256:src", "sha256:in", "0.1.0"};

/* ---- helpers --------------------------------------------------------------------------- */

typedef struct tmp {
    char dir[64];
    char path[128];
} tmp;

/* A fresh directory under /tmp with the journal path inside it. */
static void tmp_make(tmp *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/txj-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/journal.jsonl", t->dir);
}

static void tmp_remove(tmp *t)
{
    unlink(t->path);
    ck_assert_int_eq(rmdir(t->dir), 0);
}

/* A record for pos with a given name and result (stolen; NULL means null). */
static json_t *rec(long pos, const char *name, json_t *result)
{
    json_t *r = json_pack("{s:I, s:s, s:s?, s:s, s:s, s:o, s:n, s:f, s:f}", "pos", (json_int_t)pos,
                          "kind", "checkpoint", "name", name, "site", "proc.tac:12", "args",
                          "b2:00112233445566778899aabbccddeeff", "result",
                          result ? result : json_null(), "error", "t", 1767225600123.5, "ms", 0.25);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Appends a standard record (result {"n": pos}) and checks success. */
static void append_std(tx_journal *j, long pos)
{
    tx_error err;
    json_t *r = rec(pos, "step", json_pack("{s:I}", "n", (json_int_t)pos));
    ck_assert_msg(tx_journal_append(j, r, &err) == 0, "%s", err.message);
    json_decref(r);
}

static tx_journal *open_ok(const char *path, const tx_journal_meta *meta, tx_durability d,
                           tx_journal_report *rep)
{
    tx_journal *j = NULL;
    tx_error err;
    tx_error_clear(&err);
    int rc = tx_journal_open(path, meta, d, &j, rep, &err);
    ck_assert_msg(rc == 0, "open failed: %s", err.message);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* Opening must fail with status and a message containing needle; *out must stay NULL. */
static void open_fails(const char *path, const tx_journal_meta *meta, tactus_status status,
                       const char *needle)
{
    tx_journal *j = (tx_journal *)1;
    tx_error err;
    tx_error_clear(&err);
    ck_assert_int_eq(tx_journal_open(path, meta, TX_DURABILITY_NONE, &j, NULL, &err), -1);
    ck_assert_ptr_null(j);
    ck_assert_int_eq(err.status, status);
    ck_assert_msg(strstr(err.message, needle) != NULL, "'%s' not in '%s'", needle, err.message);
}

static char *read_bytes(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    char *b = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(read(fd, b, (size_t)st.st_size), st.st_size);
    close(fd);
    b[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    return b;
}

/* read_bytes for forked children, which must not call ck_* (the child's messages would go
 * into Check's result file, under the child's RLIMIT_FSIZE too). NULL on any error. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    char *b = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0 && (b = malloc((size_t)st.st_size + 1)) != NULL &&
        read(fd, b, (size_t)st.st_size) == st.st_size) {
        *len = (size_t)st.st_size;
    } else {
        free(b);
        b = NULL;
    }
    if (fd >= 0)
        close(fd);
    return b;
}

static void write_bytes(const char *path, const char *b, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
    close(fd);
}

static long file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (long)st.st_size;
}

/* Offset of the start of line n (1-based) in b. */
static size_t line_start(const char *b, size_t len, int n)
{
    size_t off = 0;
    for (int i = 1; i < n; i++) {
        const char *nl = memchr(b + off, '\n', len - off);
        ck_assert_ptr_nonnull(nl);
        off = (size_t)(nl - b) + 1;
    }
    return off;
}

/* Appends "json\tchecksum\n" to buf (computed here with libsodium, independently of the module). */
static void add_line(char *buf, size_t cap, const char *json)
{
    unsigned char h[16];
    char hex[33];
    ck_assert_int_eq(
        crypto_generichash(h, sizeof h, (const unsigned char *)json, strlen(json), NULL, 0), 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    size_t used = strlen(buf);
    ck_assert_int_lt(snprintf(buf + used, cap - used, "%s\t%s\n", json, hex), (int)(cap - used));
}

#define HDR                                                                                        \
    "{\"journal\":\"tactus\",\"format\":1,\"run_id\":\"run-1\",\"source_digest\":null,"            \
    "\"input_digest\":null,\"version\":null,\"created_at\":\"2026-01-01T00:00:00.000Z\"}"
#define REC(pos)                                                                                   \
    "{\"pos\":" #pos ",\"kind\":\"checkpoint\",\"name\":null,\"site\":null,\"args\":null,"         \
    "\"result\":1,\"error\":null,\"t\":1.5,\"ms\":2}"

/* Forks; the child runs fn(arg) and exits with its return value. Returns the wait status.
 * fn must not use ck_* (see slurp). */
static int in_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(fn(arg));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* Writes a 3-record journal at t->path (durability none) and returns its bytes. */
static char *three_records(tmp *t, size_t *len)
{
    tx_journal *j = open_ok(t->path, &META, TX_DURABILITY_NONE, NULL);
    for (long p = 1; p <= 3; p++)
        append_std(j, p);
    tx_journal_close(j);
    return read_bytes(t->path, len);
}

/* ---- tests ----------------------------------------------------------------------------- */

/* The record at pos, read back from the file (a new reference), or NULL. */
static json_t *get(tx_journal *j, long pos)
{
    tx_error err;
    tx_error_clear(&err);
    return tx_journal_read(j, pos, &err);
}

/* True when the journal has no record at pos (and says so). */
static int absent(tx_journal *j, long pos)
{
    tx_error err;
    tx_error_clear(&err);
    json_t *v = tx_journal_read(j, pos, &err);
    json_decref(v);
    return v == NULL && err.status == TACTUS_EUSAGE;
}

/* Integer field `field` of the record at pos (or of its result's field `sub`), -1 if none. */
static long long get_int(tx_journal *j, long pos, const char *field, const char *sub)
{
    json_t *r = get(j, pos);
    json_t *v = json_object_get(r, field);
    if (sub != NULL)
        v = json_object_get(v, sub);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(r);
    return n;
}

START_TEST(test_create_and_reopen)
{
    tmp t;
    tmp_make(&t);
    tx_journal_report rep;
    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, &rep);
    ck_assert_str_eq(rep.note, "created");
    ck_assert_int_eq(rep.records, 0);
    ck_assert_int_eq(rep.dropped_at_offset, -1);
    ck_assert_int_eq(tx_journal_count(j), 0);
    ck_assert_str_eq(tx_journal_meta_get(j)->run_id, "run-1");
    ck_assert_str_eq(tx_journal_meta_get(j)->source_digest, "sha256:src");
    ck_assert(absent(j, 1));
    ck_assert(absent(j, 0));
    for (long p = 1; p <= 3; p++)
        append_std(j, p);
    ck_assert_int_eq(tx_journal_count(j), 3);
    ck_assert_int_eq(get_int(j, 2, "result", "n"), 2);
    tx_journal_close(j);
    ck_assert_int_eq(stat(t.path, &(struct stat){0}), 0);
    ck_assert_int_eq(file_size(t.path) > 0, 1);

    /* The file format, checked byte by byte against an independent checksum. */
    size_t len;
    char *b = read_bytes(t.path, &len);
    ck_assert_int_eq(strncmp(b, "{\"journal\":\"tactus\",\"format\":1,\"run_id\":\"run-1\"", 46),
                     0);
    size_t off = 0;
    int lines = 0;
    while (off < len) {
        char *nl = memchr(b + off, '\n', len - off);
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        char *tab = strrchr(b + off, '\t');
        ck_assert_ptr_nonnull(tab);
        ck_assert_int_eq(strlen(tab + 1), 32);
        *tab = '\0';
        char expect[4096] = "";
        add_line(expect, sizeof expect, b + off);
        ck_assert_int_eq(strncmp(expect + strlen(b + off) + 1, tab + 1, 32), 0);
        if (lines > 0)
            ck_assert_int_eq(strncmp(b + off, "{\"pos\":", 7), 0);
        off = (size_t)(nl - b) + 1;
        lines++;
    }
    ck_assert_int_eq(lines, 4);
    free(b);

    /* Resume-only open, and open-or-create of an existing journal. */
    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, &rep);
    ck_assert_int_eq(tx_journal_count(j), 3);
    ck_assert_int_eq(rep.records, 3);
    ck_assert_int_eq(rep.dropped_bytes, 0);
    ck_assert_int_eq(rep.dropped_at_offset, -1);
    ck_assert_str_eq(rep.note, "");
    ck_assert_str_eq(tx_journal_meta_get(j)->version, "0.1.0");
    ck_assert_str_eq(tx_journal_meta_get(j)->input_digest, "sha256:in");
    tx_journal_close(j);
    j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, NULL);
    ck_assert_int_eq(tx_journal_count(j), 3);
    append_std(j, 4);
    tx_journal_close(j);

    tx_journal_meta other = {"run-2", NULL, NULL, NULL};
    open_fails(t.path, &other, TACTUS_EUSAGE, "belongs to run 'run-1', not 'run-2'");
    tmp_remove(&t);
}
END_TEST

START_TEST(test_null_meta_fields_and_bad_arguments)
{
    tmp t;
    tmp_make(&t);
    tx_journal_meta m = {"run-x", NULL, NULL, NULL};
    tx_journal *j = open_ok(t.path, &m, TX_DURABILITY_NONE, NULL);
    tx_journal_close(j);
    j = open_ok(t.path, NULL, TX_DURABILITY_NONE, NULL);
    ck_assert_str_eq(tx_journal_meta_get(j)->run_id, "run-x");
    ck_assert_ptr_null(tx_journal_meta_get(j)->source_digest);
    ck_assert_ptr_null(tx_journal_meta_get(j)->input_digest);
    ck_assert_ptr_null(tx_journal_meta_get(j)->version);
    tx_journal_close(j);
    tmp_remove(&t);

    tmp_make(&t);
    open_fails(t.path, NULL, TACTUS_EUSAGE, "cannot open journal");
    tx_journal_meta empty = {"", NULL, NULL, NULL};
    open_fails(t.path, &empty, TACTUS_EUSAGE, "run id is empty");
    ck_assert_int_eq(access(t.path, F_OK), -1); /* nothing created */
    tx_error err;
    tx_journal *jj;
    ck_assert_int_eq(tx_journal_open(NULL, &META, TX_DURABILITY_NONE, &jj, NULL, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_int_eq(tx_journal_open(t.path, &META, (tx_durability)42, &jj, NULL, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    tx_journal_close(NULL);
    tmp_remove(&t);

    /* A directory in place of the journal. */
    tmp_make(&t);
    ck_assert_int_eq(mkdir(t.path, 0700), 0);
    open_fails(t.path, NULL, TACTUS_ESYSTEM, "cannot open journal");
    ck_assert_int_eq(rmdir(t.path), 0);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_values_round_trip_exactly)
{
    tmp t;
    tmp_make(&t);
    json_error_t jerr;
    json_t *result = json_loads(
        "{\"max\":9223372036854775807,\"min\":-9223372036854775808,\"one_int\":1,"
        "\"one_real\":1.0,\"tenth\":0.1,\"neg_zero\":-0.0,\"big\":1e300,\"tiny\":5e-324,"
        "\"third\":0.33333333333333331,"
        "\"text\":\"h\\u00e9llo \\u2713 \\ud83d\\ude00\",\"nul\":\"a\\u0000b\","
        "\"ctl\":\"tab\\there\\nnewline\\r\\u0001\",\"quote\":\"\\\"\\\\/\","
        "\"nested\":{\"a\":[1,[2,[3,[4,{\"b\":[]}]]]],\"c\":{}},\"arr\":[true,false,null]}",
        JSON_ALLOW_NUL, &jerr);
    ck_assert_msg(result != NULL, "%s", jerr.text);
    json_t *r1 = rec(1, "values", json_incref(result));
    json_t *r2 =
        json_pack("{s:i, s:s, s:n, s:n, s:n, s:O, s:{s:s, s:i}, s:i, s:f, s:b}", "pos", 2, "kind",
                  "host.call", "name", "site", "args", "result", result, "error", "message",
                  "boom \xe2\x9c\x93", "line", 7, "t", 5, "ms", 0.0, "pending", 1);
    ck_assert_ptr_nonnull(r2);
    char *dump1 = json_dumps(r1, JSON_COMPACT | JSON_ENCODE_ANY);
    char *dump2 = json_dumps(r2, JSON_COMPACT | JSON_ENCODE_ANY);

    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, NULL);
    tx_error err;
    ck_assert_msg(tx_journal_append(j, r1, &err) == 0, "%s", err.message);
    ck_assert_msg(tx_journal_append(j, r2, &err) == 0, "%s", err.message);
    tx_journal_close(j);

    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, NULL);
    json_t *g1 = get(j, 1), *g2 = get(j, 2);
    ck_assert(json_equal(g1, r1));
    ck_assert(json_equal(g2, r2));
    char *back1 = json_dumps(g1, JSON_COMPACT | JSON_ENCODE_ANY);
    char *back2 = json_dumps(g2, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_str_eq(back1, dump1);
    ck_assert_str_eq(back2, dump2);
    json_t *res = json_object_get(g1, "result");
    ck_assert(json_is_integer(json_object_get(res, "one_int")));
    ck_assert(json_is_real(json_object_get(res, "one_real")));
    ck_assert(json_integer_value(json_object_get(res, "max")) == INT64_MAX);
    ck_assert(json_integer_value(json_object_get(res, "min")) == INT64_MIN);
    double nz = json_real_value(json_object_get(res, "neg_zero"));
    ck_assert(nz == 0.0 && signbit(nz));
    ck_assert(json_real_value(json_object_get(res, "tiny")) == 5e-324);
    ck_assert(json_real_value(json_object_get(res, "tenth")) == 0.1);
    ck_assert_int_eq(json_string_length(json_object_get(res, "nul")), 3);
    ck_assert_int_eq(memcmp(json_string_value(json_object_get(res, "nul")), "a\0b", 3), 0);
    ck_assert_str_eq(json_string_value(json_object_get(res, "text")),
                     "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80");
    ck_assert(json_is_true(json_object_get(g2, "pending")));
    ck_assert(json_is_integer(json_object_get(g2, "t")));
    json_decref(g1);
    json_decref(g2);
    tx_journal_close(j);
    free(dump1);
    free(dump2);
    free(back1);
    free(back2);
    json_decref(r1);
    json_decref(r2);
    json_decref(result);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_large_and_many_records)
{
    tmp t;
    tmp_make(&t);
    size_t big = 300000;
    char *s = malloc(big + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < big; i++)
        s[i] = (char)('a' + i % 26);
    s[big] = '\0';
    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_NONE, NULL);
    for (long p = 1; p <= 1500; p++) {
        tx_error err;
        json_t *r = rec(p, "many", p == 700 ? json_string(s) : json_integer(p));
        ck_assert_msg(tx_journal_append(j, r, &err) == 0, "%s", err.message);
        json_decref(r);
    }
    tx_journal_close(j);
    j = open_ok(t.path, NULL, TX_DURABILITY_NONE, NULL);
    ck_assert_int_eq(tx_journal_count(j), 1500);
    for (long p = 1; p <= 1500; p++) {
        json_t *r = get(j, p);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "pos")), p);
        if (p == 700)
            ck_assert_str_eq(json_string_value(json_object_get(r, "result")), s);
        else
            ck_assert_int_eq(json_integer_value(json_object_get(r, "result")), p);
        json_decref(r);
    }
    ck_assert(absent(j, 1501));
    tx_journal_close(j);
    free(s);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_torn_tail_at_every_offset)
{
    tmp t;
    tmp_make(&t);
    size_t len;
    char *orig = three_records(&t, &len);
    size_t start = line_start(orig, len, 4); /* the last record's line */
    ck_assert_int_gt(len - start, 100);
    for (size_t cut = start; cut < len; cut++) {
        write_bytes(t.path, orig, cut);
        tx_journal_report rep;
        tx_journal *j = open_ok(t.path, cut % 2 ? &META : NULL, TX_DURABILITY_FSYNC, &rep);
        ck_assert_int_eq(tx_journal_count(j), 2);
        ck_assert_int_eq(rep.records, 2);
        if (cut > start) {
            ck_assert_int_eq(rep.dropped_bytes, (long)(cut - start));
            ck_assert_int_eq(rep.dropped_at_offset, (long)start);
            ck_assert_ptr_nonnull(strstr(rep.note, "dropped"));
        } else {
            ck_assert_int_eq(rep.dropped_bytes, 0);
            ck_assert_int_eq(rep.dropped_at_offset, -1);
        }
        ck_assert_int_eq(file_size(t.path), (long)start);
        ck_assert_int_eq(get_int(j, 2, "pos", NULL), 2);
        append_std(j, 3);
        tx_journal_close(j);
        j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, &rep);
        ck_assert_int_eq(tx_journal_count(j), 3);
        ck_assert_int_eq(rep.dropped_bytes, 0);
        tx_journal_close(j);
        size_t now_len;
        char *now = read_bytes(t.path, &now_len);
        ck_assert_int_eq(now_len, len); /* the re-appended record is byte-identical */
        ck_assert_int_eq(memcmp(now, orig, len), 0);
        free(now);
    }

    /* Garbage and zeros after the last good line are a tail too. */
    static const struct {
        const char *bytes;
        size_t n;
    } tails[] = {{"\0\0\0\1\0\0\0\0", 8},     {"garbage\n", 8}, {"\0\0\0\n\0\0\n\n", 8},
                 {"{\"pos\":4,\"kind\"", 15}, {"\n", 1},        {"x\tnot-a-checksum\n", 17}};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char *b = malloc(len + tails[i].n);
        memcpy(b, orig, len);
        memcpy(b + len, tails[i].bytes, tails[i].n);
        write_bytes(t.path, b, len + tails[i].n);
        free(b);
        tx_journal_report rep;
        tx_journal *j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, &rep);
        ck_assert_int_eq(tx_journal_count(j), 3);
        ck_assert_int_eq(rep.dropped_bytes, (long)tails[i].n);
        ck_assert_int_eq(rep.dropped_at_offset, (long)len);
        ck_assert_int_eq(file_size(t.path), (long)len);
        tx_journal_close(j);
    }

    /* Zeros alone are reserve (what a crash leaves after the last record): not data, not
     * dropped, reused by the next append, and cut at close. */
    char *b = calloc(1, len + 70000);
    memcpy(b, orig, len);
    write_bytes(t.path, b, len + 70000);
    free(b);
    tx_journal_report rep;
    tx_journal *j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, &rep);
    ck_assert_int_eq(tx_journal_count(j), 3);
    ck_assert_int_eq(rep.dropped_bytes, 0);
    ck_assert_int_eq(rep.dropped_at_offset, -1);
    append_std(j, 4);
    ck_assert_int_eq(file_size(t.path), (long)len + 70000); /* written into the reserve */
    tx_journal_close(j);
    ck_assert_int_lt(file_size(t.path), (long)len + 400);
    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, &rep);
    ck_assert_int_eq(tx_journal_count(j), 4);
    ck_assert_int_eq(rep.dropped_bytes, 0);
    tx_journal_close(j);
    free(orig);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_reserve_while_open)
{
    tmp t;
    tmp_make(&t);
    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, NULL);
    append_std(j, 1);
    long with_reserve = file_size(t.path), step = TX_JOURNAL_RESERVE_STEP;
    if (step == 0) { /* reserve turned off: plain appends */
        tx_journal_close(j);
        ck_assert_int_eq(file_size(t.path), with_reserve);
        tmp_remove(&t);
        return;
    }
    ck_assert_int_eq(with_reserve % step, 0);
    for (long p = 2; p <= 400; p++) /* crosses a reserve step */
        append_std(j, p);
    ck_assert_int_gt(file_size(t.path), with_reserve);
    size_t len;
    char *live = read_bytes(t.path, &len);
    tx_journal_close(j);
    size_t clean_len;
    char *clean = read_bytes(t.path, &clean_len);
    ck_assert_int_lt(clean_len, len);
    ck_assert_int_eq(clean[clean_len - 1], '\n');
    ck_assert_int_eq(memcmp(live, clean, clean_len), 0); /* live = lines + zeros */
    for (size_t i = clean_len; i < len; i++)
        ck_assert_int_eq(live[i], 0);
    ck_assert_ptr_null(memchr(clean, '\0', clean_len));
    free(live);
    free(clean);
    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, NULL);
    ck_assert_int_eq(tx_journal_count(j), 400);
    tx_journal_close(j);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_torn_or_empty_header)
{
    tmp t;
    tmp_make(&t);
    size_t len;
    char *orig = three_records(&t, &len);
    size_t hdr_end = line_start(orig, len, 2);

    /* Without create_meta there is nothing to rebuild a header from. */
    write_bytes(t.path, "", 0);
    open_fails(t.path, NULL, TACTUS_ESYSTEM, "no complete header (0 bytes");
    write_bytes(t.path, orig, 20);
    open_fails(t.path, NULL, TACTUS_ESYSTEM, "no complete header");
    ck_assert_int_eq(file_size(t.path), 20);

    /* With it, a creation that crashed before its header was complete is redone. */
    for (size_t cut = 0; cut < hdr_end; cut += 7) {
        write_bytes(t.path, orig, cut);
        tx_journal_report rep;
        tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, &rep);
        ck_assert_int_eq(tx_journal_count(j), 0);
        ck_assert_int_eq(rep.dropped_bytes, (long)cut);
        ck_assert_str_eq(tx_journal_meta_get(j)->run_id, "run-1");
        append_std(j, 1);
        tx_journal_close(j);
        j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, NULL);
        ck_assert_int_eq(tx_journal_count(j), 1);
        tx_journal_close(j);
    }
    free(orig);
    tmp_remove(&t);
}
END_TEST

/* Flips `bit` of byte i in a copy of orig, writes it, and returns the copy. */
static char *flipped(const tmp *t, const char *orig, size_t len, size_t i, int bit)
{
    char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    memcpy(b, orig, len);
    b[i] = (char)(b[i] ^ (1 << bit));
    write_bytes(t->path, b, len);
    return b;
}

START_TEST(test_bit_flip_in_middle_record_is_corruption)
{
    tmp t;
    tmp_make(&t);
    size_t len;
    char *orig = three_records(&t, &len);
    struct {
        int line;
        const char *where;
    } cases[] = {
        {1, "corrupt at position 0"}, {2, "corrupt at position 1"}, {3, "corrupt at position 2"}};
    for (size_t c = 0; c < 3; c++) {
        size_t s = line_start(orig, len, cases[c].line),
               e = line_start(orig, len, cases[c].line + 1);
        for (size_t i = s; i < e; i++) {
            for (int bit = 0; bit < 8; bit += 5) {
                char *b = flipped(&t, orig, len, i, bit);
                open_fails(t.path, NULL, TACTUS_ESYSTEM, cases[c].where);
                size_t now_len;
                char *now = read_bytes(t.path, &now_len);
                ck_assert_int_eq(now_len, len); /* nothing truncated or rewritten */
                ck_assert_int_eq(memcmp(now, b, len), 0);
                free(now);
                free(b);
            }
        }
    }
    free(orig);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_bit_flip_in_last_record_is_dropped)
{
    tmp t;
    tmp_make(&t);
    size_t len;
    char *orig = three_records(&t, &len);
    size_t start = line_start(orig, len, 4);
    for (size_t i = start; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 5) {
            char *b = flipped(&t, orig, len, i, bit);
            tx_journal_report rep;
            tx_journal *j = open_ok(t.path, NULL, TX_DURABILITY_NONE, &rep);
            ck_assert_int_eq(tx_journal_count(j), 2);
            ck_assert_int_eq(rep.dropped_bytes, (long)(len - start));
            ck_assert_int_eq(rep.dropped_at_offset, (long)start);
            tx_journal_close(j);
            ck_assert_int_eq(file_size(t.path), (long)start);
            free(b);
        }
    }
    free(orig);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_hand_made_corruption)
{
    tmp t;
    tmp_make(&t);
    static const struct {
        const char *lines[5];
        const char *needle;
    } cases[] = {
        {{HDR, REC(1), REC(3), REC(4)}, "corrupt at position 2"},
        {{HDR, REC(1), REC(3)}, "'pos' is 3 where 2 was expected"}, /* valid last line: kept */
        {{HDR, REC(1), REC(1)}, "corrupt at position 2"},
        {{HDR, REC(0)}, "corrupt at position 1"},
        {{HDR, REC(2)}, "corrupt at position 1"},
        {{HDR, REC(1), "{\"pos\":2,"}, "invalid JSON"},
        {{HDR, "[1,2]"}, "not a JSON object"},
        {{HDR, "{\"pos\":\"1\",\"kind\":\"k\",\"name\":null,\"site\":null,\"args\":null,"
               "\"result\":1,\"error\":null,\"t\":1,\"ms\":2}"},
         "field 'pos' must be an integer"},
        {{HDR, "{\"pos\":1,\"kind\":\"k\",\"name\":null,\"site\":null,\"args\":null,"
               "\"result\":1,\"error\":null,\"t\":1,\"ms\":2,\"extra\":0}"},
         "unknown field 'extra'"},
        {{HDR, "{\"pos\":1,\"kind\":\"k\",\"name\":null,\"site\":null,\"args\":null,"
               "\"error\":null,\"t\":1,\"ms\":2}"},
         "field 'result' is missing"},
        {{REC(1), HDR}, "corrupt at position 0"},
        {{"{\"journal\":\"other\",\"format\":1,\"run_id\":\"r\",\"source_digest\":null,"
          "\"input_digest\":null,\"version\":null,\"created_at\":\"x\"}"},
         "not \"tactus\""},
        {{"{\"journal\":\"tactus\",\"format\":2,\"run_id\":\"r\",\"source_digest\":null,"
          "\"input_digest\":null,\"version\":null,\"created_at\":\"x\"}"},
         "format 2 is not supported"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char buf[8192] = "";
        for (int i = 0; i < 5 && cases[c].lines[i] != NULL; i++)
            add_line(buf, sizeof buf, cases[c].lines[i]);
        write_bytes(t.path, buf, strlen(buf));
        open_fails(t.path, NULL, TACTUS_ESYSTEM, cases[c].needle);
        size_t n;
        char *now = read_bytes(t.path, &n);
        ck_assert_str_eq(now, buf); /* never truncated */
        free(now);
    }
    /* A well-formed hand-made journal is accepted (the format is the documented one). */
    char buf[4096] = "";
    add_line(buf, sizeof buf, HDR);
    add_line(buf, sizeof buf, REC(1));
    add_line(buf, sizeof buf, REC(2));
    write_bytes(t.path, buf, strlen(buf));
    tx_journal *j = open_ok(t.path, NULL, TX_DURABILITY_NONE, NULL);
    ck_assert_int_eq(tx_journal_count(j), 2);
    tx_journal_close(j);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_append_rejects_bad_records)
{
    tmp t;
    tmp_make(&t);
    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, NULL);
    append_std(j, 1);
    long size = file_size(t.path);
    struct {
        const char *key;
        json_t *value; /* NULL: delete the key */
        const char *needle;
    } cases[] = {
        {"pos", json_integer(3), "'pos' is 3 where 2 was expected"},
        {"pos", json_integer(1), "'pos' is 1 where 2 was expected"},
        {"pos", json_real(2.0), "field 'pos' must be an integer"},
        {"kind", json_integer(1), "field 'kind' must be a non-empty string"},
        {"kind", json_string(""), "field 'kind' must be a non-empty string"},
        {"name", json_true(), "field 'name' must be a string or null"},
        {"error", json_string("x"), "field 'error' must be an object or null"},
        {"t", json_string("now"), "field 't' must be a number"},
        {"ms", NULL, "field 'ms' is missing"},
        {"result", NULL, "field 'result' is missing"},
        {"pending", json_integer(1), "field 'pending' must be a boolean"},
        {"extra", json_null(), "unknown field 'extra'"},
        {"parent", json_integer(2), "fields 'parent' and 'seq' go together"},
        {"seq", json_integer(1), "fields 'parent' and 'seq' go together"},
        {"parent", json_string("2"), "field 'parent' must be an integer"},
        {"result", json_stringn_nocheck("\xff\xfe", 2), "cannot be encoded"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        json_t *r = rec(2, "bad", NULL);
        if (cases[c].value != NULL)
            json_object_set_new(r, cases[c].key, cases[c].value);
        else
            json_object_del(r, cases[c].key);
        tx_error err;
        ck_assert_int_eq(tx_journal_append(j, r, &err), -1);
        ck_assert_int_eq(err.status, TACTUS_EUSAGE);
        ck_assert_msg(strstr(err.message, cases[c].needle) != NULL, "%s", err.message);
        ck_assert_int_eq(tx_journal_count(j), 1);
        ck_assert_int_eq(file_size(t.path), size);
        json_decref(r);
    }
    json_t *arr = json_array();
    tx_error err;
    ck_assert_int_eq(tx_journal_append(j, arr, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "not a JSON object"));
    json_decref(arr);
    /* A checkpoint's child: seq is always pos - parent + 1, and parent is never after pos. */
    const long child_cases[][2] = {{1, 1}, {2, 2}, {3, 0}, {0, 3}, {1, 3}};
    for (size_t c = 0; c < sizeof child_cases / sizeof child_cases[0]; c++) {
        json_t *r = rec(2, "bad", NULL);
        json_object_set_new(r, "parent", json_integer(child_cases[c][0]));
        json_object_set_new(r, "seq", json_integer(child_cases[c][1]));
        ck_assert_int_eq(tx_journal_append(j, r, &err), -1);
        ck_assert_int_eq(err.status, TACTUS_EUSAGE);
        ck_assert_msg(strstr(err.message, "do not fit position 2") != NULL, "%s", err.message);
        ck_assert_int_eq(tx_journal_count(j), 1);
        json_decref(r);
    }
    append_std(j, 2); /* a bad record does not spoil the journal */
    json_t *child = rec(3, "child", NULL);
    json_object_set_new(child, "parent", json_integer(2));
    json_object_set_new(child, "seq", json_integer(2));
    ck_assert_int_eq(tx_journal_append(j, child, &err), 0);
    json_decref(child);
    tx_journal_close(j);
    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, NULL);
    ck_assert_int_eq(tx_journal_count(j), 3);
    json_t *back = tx_journal_read(j, 3, &err);
    ck_assert_int_eq(json_integer_value(json_object_get(back, "parent")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(back, "seq")), 2);
    json_decref(back);
    tx_journal_close(j);
    tmp_remove(&t);
}
END_TEST

/* Child: tries to open the journal held by the parent; 0 if refused as "in use". */
static int child_open_in_use(void *arg)
{
    const tmp *t = arg;
    tx_journal *j;
    tx_error err;
    if (tx_journal_open(t->path, &META, TX_DURABILITY_FSYNC, &j, NULL, &err) != -1)
        return 1;
    if (err.status != TACTUS_EUSAGE ||
        strstr(err.message, "run run-1 is in use by another process") == NULL)
        return 2;
    if (tx_journal_open(t->path, NULL, TX_DURABILITY_FSYNC, &j, NULL, &err) != -1)
        return 3;
    /* Without meta the run is named after its directory. */
    if (strstr(err.message, strrchr(t->dir, '/') + 1) == NULL ||
        strstr(err.message, "is in use by another process") == NULL)
        return 4;
    return 0;
}

/* Child: opens and appends record 2; 0 on success. */
static int child_open_and_append(void *arg)
{
    const tmp *t = arg;
    tx_journal *j;
    tx_error err;
    if (tx_journal_open(t->path, NULL, TX_DURABILITY_FSYNC, &j, NULL, &err) != 0)
        return 1;
    json_t *r = rec(tx_journal_count(j) + 1, "child", NULL);
    int rc = tx_journal_append(j, r, &err);
    json_decref(r);
    tx_journal_close(j);
    return rc == 0 ? 0 : 2;
}

START_TEST(test_concurrent_open_is_refused)
{
    tmp t;
    tmp_make(&t);
    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, NULL);
    append_std(j, 1);
    int st = in_child(child_open_in_use, &t);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    tx_journal_close(j); /* releases the lock */
    st = in_child(child_open_and_append, &t);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, NULL);
    ck_assert_int_eq(tx_journal_count(j), 2);
    tx_journal_close(j);
    tmp_remove(&t);
}
END_TEST

typedef struct fsize_case {
    tmp *t;
    long slack; /* bytes allowed beyond the current size */
    int reopen; /* close and reopen (dropping the reserve) before the limit */
    tx_durability mode;
    int trunc; /* append 3 more records and truncate them away before the limit */
} fsize_case;

/* Child: hits the file-size limit on record 3 and checks the failure contract: error, record
 * not counted, file byte-for-byte as before, journal refusing more. 0 if all of it holds. */
static int child_disk_full(void *arg)
{
    const fsize_case *c = arg;
    tx_journal *j;
    tx_error err;
    if (tx_journal_open(c->t->path, &META, c->mode, &j, NULL, &err) != 0)
        return 1;
    for (long p = 1; p <= 2; p++) {
        json_t *r = rec(p, "ok", NULL);
        int rc = tx_journal_append(j, r, &err);
        json_decref(r);
        if (rc != 0)
            return 2;
    }
    for (long p = 3; c->trunc && p <= 5; p++) {
        json_t *r = rec(p, "gone", NULL);
        int rc = tx_journal_append(j, r, &err);
        json_decref(r);
        if (rc != 0)
            return 2;
    }
    if (c->trunc && tx_journal_truncate(j, 2, &err) != 0)
        return 2;
    if (c->reopen) { /* no reserve left: the next append must grow the file */
        tx_journal_close(j);
        if (tx_journal_open(c->t->path, &META, c->mode, &j, NULL, &err) != 0)
            return 1;
    }
    size_t len;
    char *before = slurp(c->t->path, &len);
    if (before == NULL)
        return 3;
    char *zero = memchr(before, '\0', len);
    size_t data_end = zero ? (size_t)(zero - before) : len;
    if (TX_JOURNAL_RESERVE_STEP > 0 && (c->reopen || c->trunc) != (zero == NULL))
        return 3;
    signal(SIGXFSZ, SIG_IGN);
    /* Only the soft limit, so it can be lifted again below. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 4;
    rl.rlim_cur = (rlim_t)(data_end + (size_t)c->slack);
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 4;
    json_t *r = rec(3, "too-big", NULL);
    int rc = tx_journal_append(j, r, &err);
    json_decref(r);
    if (rc != -1 || err.status != TACTUS_ESYSTEM || strstr(err.message, "File too large") == NULL ||
        strstr(err.message, "record 3 was not recorded") == NULL)
        return 5;
    if (tx_journal_count(j) != 2 || !absent(j, 3))
        return 6;
    size_t len2;
    char *after = slurp(c->t->path, &len2);
    if (after == NULL || len2 != len || memcmp(before, after, len) != 0)
        return 7;
    free(before);
    free(after);
    /* The journal refuses to go on, even with room again. */
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 4;
    r = rec(3, "again", NULL);
    rc = tx_journal_append(j, r, &err);
    json_decref(r);
    if (rc != -1 || strstr(err.message, "takes no more records: an earlier write failed") == NULL)
        return 8;
    if (tx_journal_sync(j, &err) != -1 || tx_journal_truncate(j, 1, &err) != -1)
        return 9;
    tx_journal_close(j);
    return 0;
}

START_TEST(test_disk_full_leaves_no_trace)
{
    fsize_case cases[] = {
        {NULL, 0, 1, TX_DURABILITY_FSYNC, 0},  {NULL, 1, 1, TX_DURABILITY_FSYNC, 0},
        {NULL, 40, 1, TX_DURABILITY_BATCH, 0}, {NULL, 0, 0, TX_DURABILITY_FSYNC, 0},
        {NULL, 100, 0, TX_DURABILITY_NONE, 0}, {NULL, 10, 0, TX_DURABILITY_FSYNC, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tmp t;
        tmp_make(&t);
        fsize_case c = cases[i];
        c.t = &t;
        int st = in_child(child_disk_full, &c);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "case %zu: child status %d", i, st);
        tx_journal_report rep;
        tx_journal *j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, &rep);
        ck_assert_int_eq(tx_journal_count(j), 2);
        ck_assert_int_eq(rep.dropped_bytes, 0);
        tx_journal_close(j);
        tmp_remove(&t);
    }
}
END_TEST

START_TEST(test_truncate)
{
    tmp t;
    tmp_make(&t);
    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_FSYNC, NULL);
    for (long p = 1; p <= 5; p++)
        append_std(j, p);
    size_t len;
    char *orig = read_bytes(t.path, &len);
    tx_error err;
    ck_assert_int_eq(tx_journal_truncate(j, 6, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_int_eq(tx_journal_truncate(j, -1, &err), -1);
    ck_assert_int_eq(tx_journal_truncate(j, 5, &err), 0); /* no-op */
    ck_assert_int_eq(file_size(t.path), (long)len);
    ck_assert_int_eq(tx_journal_truncate(j, 3, &err), 0);
    ck_assert_int_eq(tx_journal_count(j), 3);
    ck_assert(absent(j, 4));
    ck_assert_int_eq(file_size(t.path), (long)line_start(orig, len, 5));
    json_t *r = rec(4, "redo", json_string("new"));
    ck_assert_int_eq(tx_journal_append(j, r, &err), 0);
    json_decref(r);
    tx_journal_close(j);

    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, NULL);
    ck_assert_int_eq(tx_journal_count(j), 4);
    json_t *r4 = get(j, 4);
    ck_assert_str_eq(json_string_value(json_object_get(r4, "name")), "redo");
    json_decref(r4);
    ck_assert_int_eq(tx_journal_truncate(j, 0, &err), 0);
    ck_assert_int_eq(tx_journal_count(j), 0);
    ck_assert_int_eq(tx_journal_truncate(j, 1, &err), -1);
    tx_journal_close(j);
    ck_assert_int_eq(file_size(t.path), (long)line_start(orig, len, 2)); /* header only */
    j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, NULL);
    ck_assert_int_eq(tx_journal_count(j), 0);
    append_std(j, 1);
    tx_journal_close(j);
    free(orig);
    tmp_remove(&t);
}
END_TEST

START_TEST(test_batch_and_none_modes_persist)
{
    tx_durability modes[] = {TX_DURABILITY_BATCH, TX_DURABILITY_NONE};
    for (int m = 0; m < 2; m++) {
        tmp t;
        tmp_make(&t);
        tx_journal *j = open_ok(t.path, &META, modes[m], NULL);
        tx_error err;
        for (long p = 1; p <= 150; p++) {
            append_std(j, p);
            if (p == 70)
                ck_assert_int_eq(tx_journal_sync(j, &err), 0);
        }
        ck_assert_int_eq(tx_journal_truncate(j, 140, &err), 0);
        tx_journal_close(j);
        j = open_ok(t.path, NULL, modes[m], NULL);
        ck_assert_int_eq(tx_journal_count(j), 140);
        ck_assert_int_eq(tx_journal_sync(j, &err), 0);
        tx_journal_close(j);
        tmp_remove(&t);
    }
}
END_TEST

typedef struct crash_case {
    const tmp *t;
    const char *env;
    tx_durability mode;
} crash_case;

/* Child: appends records 1..3 with TACTUS_CRASH_AT set; returns only if no crash happened. */
static int child_crash(void *arg)
{
    const crash_case *c = arg;
    setenv("TACTUS_CRASH_AT", c->env, 1);
    tx_journal *j;
    tx_error err;
    if (tx_journal_open(c->t->path, &META, c->mode, &j, NULL, &err) != 0)
        return 10;
    for (long p = 1; p <= 3; p++) {
        json_t *r = rec(p, "step", json_integer(p));
        int rc = tx_journal_append(j, r, &err);
        json_decref(r);
        if (rc != 0)
            return 11;
    }
    tx_journal_close(j);
    return 0;
}

START_TEST(test_crash_points)
{
    static const struct {
        const char *env;
        long records; /* what a reopen shows */
        int torn;     /* a tail is dropped */
    } cases[] = {
        {"before_write:2", 1, 0}, {"after_write:2", 2, 0},  {"after_sync:2", 2, 0},
        {"torn_write:2", 1, 1},   {"before_write:1", 0, 0}, {"torn_write:1", 0, 1},
        {"after_sync:3", 3, 0},   {"torn_write:3", 2, 1},
    };
    tx_durability modes[] = {TX_DURABILITY_FSYNC, TX_DURABILITY_BATCH, TX_DURABILITY_NONE};
    for (size_t m = 0; m < 3; m++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            tmp t;
            tmp_make(&t);
            crash_case c = {&t, cases[i].env, modes[m]};
            int st = in_child(child_crash, &c);
            ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: status %d", cases[i].env,
                          st);
            tx_journal_report rep;
            tx_journal *j = open_ok(t.path, NULL, TX_DURABILITY_FSYNC, &rep);
            ck_assert_msg(tx_journal_count(j) == cases[i].records, "%s mode %zu: %ld records",
                          cases[i].env, m, tx_journal_count(j));
            if (cases[i].torn) {
                ck_assert_int_gt(rep.dropped_bytes, 50);
                ck_assert_ptr_nonnull(strstr(rep.note, "dropped"));
            } else {
                ck_assert_int_eq(rep.dropped_bytes, 0);
            }
            for (long p = 1; p <= cases[i].records; p++)
                ck_assert_int_eq(get_int(j, p, "result", NULL), p);
            /* The run goes on from there. */
            append_std(j, cases[i].records + 1);
            tx_journal_close(j);
            tmp_remove(&t);
        }
    }
}
END_TEST

START_TEST(test_crash_env_parsing)
{
    /* Points of other layers are not ours: no crash, normal completion. */
    tmp t;
    tmp_make(&t);
    crash_case c = {&t, "in_fn:2", TX_DURABILITY_NONE};
    int st = in_child(child_crash, &c);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    tmp_remove(&t);
    /* Malformed values are refused at open. */
    const char *bad[] = {"before_write",
                         "before_write:0",
                         "before_write:x",
                         "before_write:-1",
                         ":3",
                         "after_sync:2x",
                         "after_sync:99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tmp_make(&t);
        crash_case cb = {&t, bad[i], TX_DURABILITY_NONE};
        st = in_child(child_crash, &cb);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 10, "%s: status %d", bad[i], st);
        ck_assert_int_eq(access(t.path, F_OK), -1);
        tmp_remove(&t);
    }
    setenv("TACTUS_CRASH_AT", "nope", 1);
    tmp_make(&t);
    open_fails(t.path, &META, TACTUS_EUSAGE, "TACTUS_CRASH_AT=nope");
    unsetenv("TACTUS_CRASH_AT");
    tmp_remove(&t);
}
END_TEST

/* The cap (the journal and disk limits): a refused record writes nothing, is named, and the
 * journal stays usable; records are read back from the file and checked again. */
START_TEST(test_max_bytes_and_read_back)
{
    tmp t;
    tmp_make(&t);
    tx_journal *j = open_ok(t.path, &META, TX_DURABILITY_NONE, NULL);
    append_std(j, 1);
    uint64_t used = tx_journal_bytes(j);
    ck_assert_uint_gt(used, 0);
    tx_journal_set_max_bytes(j, used + 10);
    json_t *r = rec(2, "big", json_string("this record is longer than ten bytes"));
    tx_error err;
    tx_error_clear(&err);
    ck_assert_int_eq(tx_journal_append(j, r, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_ELIMIT);
    ck_assert_ptr_nonnull(strstr(err.message, "past the"));
    ck_assert_uint_eq(tx_journal_last_line(j) > 10, 1);
    ck_assert_int_eq(tx_journal_count(j), 1);
    ck_assert_uint_eq(tx_journal_bytes(j), used);
    tx_journal_set_max_bytes(j, 0);
    ck_assert_int_eq(tx_journal_append(j, r, &err), 0);
    json_decref(r);
    json_t *back = get(j, 2);
    ck_assert_str_eq(json_string_value(json_object_get(back, "name")), "big");
    json_decref(back);
    /* A record changed under the journal after it was checked is an error, not a value. */
    int fd = open(t.path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "X", 1, (off_t)used + 2), 1);
    close(fd);
    tx_error_clear(&err);
    ck_assert_ptr_null(tx_journal_read(j, 2, &err));
    ck_assert_int_eq(err.status, TACTUS_ESYSTEM);
    ck_assert_ptr_nonnull(strstr(err.message, "changed on disk"));
    tx_journal_close(j);
    tmp_remove(&t);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_and_reopen);
    tcase_add_test(tc, test_null_meta_fields_and_bad_arguments);
    tcase_add_test(tc, test_values_round_trip_exactly);
    tcase_add_test(tc, test_large_and_many_records);
    tcase_add_test(tc, test_torn_tail_at_every_offset);
    tcase_add_test(tc, test_reserve_while_open);
    tcase_add_test(tc, test_torn_or_empty_header);
    tcase_add_test(tc, test_bit_flip_in_middle_record_is_corruption);
    tcase_add_test(tc, test_bit_flip_in_last_record_is_dropped);
    tcase_add_test(tc, test_hand_made_corruption);
    tcase_add_test(tc, test_append_rejects_bad_records);
    tcase_add_test(tc, test_concurrent_open_is_refused);
    tcase_add_test(tc, test_disk_full_leaves_no_trace);
    tcase_add_test(tc, test_truncate);
    tcase_add_test(tc, test_batch_and_none_modes_persist);
    tcase_add_test(tc, test_crash_points);
    tcase_add_test(tc, test_crash_env_parsing);
    tcase_add_test(tc, test_max_bytes_and_read_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (sodium_init() < 0)
        return EXIT_FAILURE;
    SRunner *sr = srunner_create(journal_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
