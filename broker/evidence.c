/* evidence.c - writing the run directory. */
#include "evidence.h"

#include "home.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tx_evidence {
    char dir[PATH_MAX];
    int dir_fd;    /* the run directory, opened without following links */
    int parent_fd; /* its parent, for making its entry durable */
    int stream_fd;
    long long seq;
    uint64_t stream_bytes;   /* size of stream.jsonl: what earlier attempts left plus our lines */
    char stream_failed[512]; /* the first failed stream.jsonl write, or "" */
};

void tx_utc_now(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}

int tx_mkdirs(const char *path, int mode, tx_error *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return tx_fail(err, TACTUS_EUSAGE, "path too long: %s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
            return tx_fail(err, TACTUS_ESYSTEM, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot create %s: %s", buf, strerror(errno));
    return 0;
}

/* Number of complete lines in fd's file (the events already written by earlier attempts). */
static long count_lines(int fd)
{
    char buf[65536];
    long lines = 0;
    ssize_t n;
    off_t off = 0;
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        off += n;
    }
    return lines;
}

/*
 * Opens (creating when missing, mode 0755) each directory of `path` from a trusted root — "/"
 * for an absolute path, the current directory otherwise — without following a symbolic link
 * at any component, so a `.tactus` (or any parent) that is a link cannot send the evidence
 * elsewhere ("..", a real directory entry, is allowed). Returns the fd of the last directory
 * (O_PATH is not used: it is written to), or -1 with err naming the component.
 */
static int open_dirs_nofollow(const char *path, size_t len, tx_error *err)
{
    int fd = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot open the current directory: %s",
                       strerror(errno));
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(path + i, "/");
        if (i + n > len)
            n = len - i;
        char comp[NAME_MAX + 1];
        if (n == 0 || (n == 1 && path[i] == '.')) {
            i += n + 1;
            continue;
        }
        if (n > NAME_MAX) {
            close(fd);
            return tx_fail(err, TACTUS_EUSAGE, "run directory %s: a name in it is too long", path);
        }
        memcpy(comp, path + i, n);
        comp[n] = '\0';
        if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            return tx_fail(err, TACTUS_ESYSTEM, "cannot create %.*s: %s", (int)(i + n), path,
                           strerror(e));
        }
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (next < 0) {
            struct stat st;
            char prefix[PATH_MAX];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(i + n), path);
            if (lstat(prefix, &st) == 0 && S_ISLNK(st.st_mode))
                return tx_fail(err, TACTUS_EUSAGE,
                               "run directory %s: %s is a symbolic link; the evidence is never "
                               "written through a link (remove it, or give the real path)",
                               path, prefix);
            return tx_fail(err, TACTUS_ESYSTEM, "cannot open %s: %s", prefix, strerror(e));
        }
        fd = next;
        i += n + 1;
    }
    return fd;
}

/* True if the directory fd holds no entry besides "." and "..". */
static int dir_is_empty(int fd)
{
    int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (d == NULL) {
        if (dup_fd >= 0)
            close(dup_fd);
        return 0;
    }
    int empty = 1;
    struct dirent *de;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int tx_evidence_open(const char *run_dir, int resume, tx_evidence **out, tx_error *err)
{
    tx_evidence *ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    ev->dir_fd = ev->parent_fd = ev->stream_fd = -1;
    if (snprintf(ev->dir, sizeof ev->dir, "%s", run_dir) >= (int)sizeof ev->dir) {
        free(ev);
        return tx_fail(err, TACTUS_EUSAGE, "run directory path too long: %s", run_dir);
    }
    /* The parent chain, then the run directory itself: created here (0700) for a new run, so
     * a directory someone else made is never taken for ours unless it is empty. */
    size_t len = strlen(ev->dir);
    while (len > 1 && ev->dir[len - 1] == '/')
        ev->dir[--len] = '\0';
    const char *slash = strrchr(ev->dir, '/');
    const char *leaf = slash ? slash + 1 : ev->dir;
    ev->parent_fd = open_dirs_nofollow(ev->dir, slash ? (size_t)(slash - ev->dir) : 0, err);
    if (ev->parent_fd < 0) {
        free(ev);
        return -1;
    }
    int created = mkdirat(ev->parent_fd, leaf, 0700) == 0;
    int mkdir_errno = created ? 0 : errno;
    ev->dir_fd = openat(ev->parent_fd, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (ev->dir_fd < 0) {
        /* Why it could not be made (EACCES, ENOSPC) says more than the ENOENT that follows. */
        int e = mkdir_errno != 0 && mkdir_errno != EEXIST ? mkdir_errno : errno;
        struct stat st;
        int is_link =
            fstatat(ev->parent_fd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
        tx_evidence_close(ev);
        if (is_link)
            return tx_fail(err, TACTUS_EUSAGE,
                           "run directory %s is a symbolic link; the evidence is never written "
                           "through a link",
                           run_dir);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot create %s: %s", run_dir, strerror(e));
    }
    if (!resume && !created && !dir_is_empty(ev->dir_fd)) {
        tx_evidence_close(ev);
        return tx_fail(err, TACTUS_EUSAGE,
                       "cannot create %s/stream.jsonl: run directory already in use (it exists "
                       "and is not empty)",
                       run_dir);
    }
    fchmod(ev->dir_fd, 0700);
    int flags = O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (resume ? 0 : O_EXCL);
    ev->stream_fd = openat(ev->dir_fd, "stream.jsonl", flags, 0600);
    if (ev->stream_fd < 0) {
        int e = errno;
        tx_evidence_close(ev);
        return tx_fail(err, e == EEXIST ? TACTUS_EUSAGE : TACTUS_ESYSTEM,
                       "cannot create %s/stream.jsonl: %s", run_dir,
                       e == EEXIST ? "run directory already in use" : strerror(e));
    }
    if (resume)
        ev->seq = count_lines(ev->stream_fd);
    struct stat st;
    if (fstat(ev->stream_fd, &st) == 0 && st.st_size > 0)
        ev->stream_bytes = (uint64_t)st.st_size;
    *out = ev;
    return 0;
}

int tx_evidence_event(tx_evidence *ev, json_t *event, tx_error *err)
{
    json_t *line = json_object();
    char ts[40];
    if (line == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    tx_utc_now(ts, sizeof ts);
    json_object_set_new(line, "seq", json_integer(++ev->seq));
    json_object_set_new(line, "ts", json_string(ts));
    json_object_update_missing(line, event);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(line);
    if (text == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory encoding an event");
    size_t len = strlen(text);
    char *withnl = realloc(text, len + 2);
    if (withnl == NULL) {
        free(text);
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory encoding an event");
    }
    withnl[len] = '\n';
    int rc = tx_write_all(ev->stream_fd, withnl, len + 1);
    free(withnl);
    if (rc == 0)
        ev->stream_bytes += len + 1;
    if (rc != 0) {
        int e = errno;
        /* Remembered: a run whose stream lost events must not end as if it were whole. */
        if (ev->stream_failed[0] == '\0')
            snprintf(ev->stream_failed, sizeof ev->stream_failed,
                     "cannot write %.300s/stream.jsonl: %s", ev->dir, strerror(e));
        return tx_fail(err, TACTUS_ESYSTEM, "cannot write %s/stream.jsonl: %s", ev->dir,
                       strerror(e));
    }
    return 0;
}

const char *tx_evidence_stream_failure(const tx_evidence *ev)
{
    return ev->stream_failed[0] != '\0' ? ev->stream_failed : NULL;
}

int tx_evidence_write_json(tx_evidence *ev, const char *name, json_t *value, tx_error *err)
{
    char tmp[NAME_MAX + 8];
    if (snprintf(tmp, sizeof tmp, ".%s.tmp", name) >= (int)sizeof tmp || strchr(name, '/'))
        return tx_fail(err, TACTUS_EUSAGE, "bad evidence file name %s", name);
    char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory encoding %s", name);
    unlinkat(ev->dir_fd, tmp, 0); /* a leftover of a crash; O_EXCL below must not meet it */
    int fd = openat(ev->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        free(text);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot create %s/%s: %s", ev->dir, tmp, strerror(e));
    }
    size_t len = strlen(text);
    int rc = tx_write_all(fd, text, len);
    if (rc == 0)
        rc = tx_write_all(fd, "\n", 1);
    free(text);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0 || renameat(ev->dir_fd, tmp, ev->dir_fd, name) != 0) {
        if (rc == 0)
            saved = errno;
        unlinkat(ev->dir_fd, tmp, 0);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot write %s/%s: %s", ev->dir, name,
                       strerror(saved));
    }
    return 0;
}

/* Writes all of buf to fd; returns 0 or -1 with errno set. */
static int put(int fd, const char *buf, size_t len)
{
    return tx_write_all(fd, buf, len);
}

/* Writes one array element: v as JSON_INDENT(2) would print it one level down (each of its
 * lines indented by two more spaces). JSON text has no raw newline inside a string, so every
 * '\n' of the encoding is a line break. */
static int put_element(int fd, const json_t *v)
{
    char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text == NULL) {
        errno = ENOMEM;
        return -1;
    }
    size_t len = strlen(text), lines = 1;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    char *out = malloc(len + 2 * lines);
    if (out == NULL) {
        free(text);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    out[n++] = ' ';
    out[n++] = ' ';
    for (const char *p = text; *p != '\0'; p++) {
        out[n++] = *p;
        if (*p == '\n') {
            out[n++] = ' ';
            out[n++] = ' ';
        }
    }
    free(text);
    int rc = put(fd, out, n);
    free(out);
    return rc;
}

int tx_evidence_write_array(tx_evidence *ev, const char *name, tx_evidence_next next, void *ud,
                            tx_error *err)
{
    char tmp[PATH_MAX + 64], path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", ev->dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", ev->dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot create %s: %s", tmp, strerror(errno));
    int rc = 0, saved = 0;
    long n = 0;
    tx_error next_err;
    tx_error_clear(&next_err);
    for (;;) {
        json_t *v = NULL;
        int got = next(ud, &v, &next_err);
        if (got <= 0) {
            if (got < 0)
                rc = -2;
            break;
        }
        rc = put(fd, n == 0 ? "[\n" : ",\n", 2);
        if (rc == 0)
            rc = put_element(fd, v);
        json_decref(v);
        n++;
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = n == 0 ? put(fd, "[]\n", 3) : put(fd, "\n]\n", 3);
    if (rc == -1)
        saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        saved = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        if (rc == -2)
            return tx_fail(err, next_err.status ? next_err.status : TACTUS_ESYSTEM,
                           "cannot write %s: %s", path, next_err.message);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot write %s: %s", path, strerror(saved));
    }
    return 0;
}

void tx_evidence_failed(json_t *result, const tx_error *why)
{
    json_t *error = json_object_get(result, "error");
    const char *type = json_string_value(json_object_get(error, "type"));
    char msg[2048];
    if (type != NULL && strcmp(type, "EvidenceError") == 0) {
        snprintf(msg, sizeof msg, "%s; %s",
                 json_string_value(json_object_get(error, "message")) ?: "", why->message);
    } else {
        const char *status = json_string_value(json_object_get(result, "status"));
        snprintf(msg, sizeof msg, "the run's evidence is incomplete: %s (the run itself ended %s)",
                 why->message, status ? status : "without a status");
    }
    json_t *e = json_pack("{s:s, s:s}", "type", "EvidenceError", "message", msg);
    if (e == NULL)
        return; /* out of memory: the caller reported the failure on stderr already */
    json_object_set_new(result, "status", json_string("system"));
    json_object_set_new(result, "output", json_null());
    json_object_set_new(result, "error", e);
}

uint64_t tx_evidence_stream_bytes(const tx_evidence *ev)
{
    return ev->stream_bytes;
}

int tx_evidence_sync(tx_evidence *ev, tx_error *err)
{
    int fd = openat(ev->dir_fd, "run.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int rc = fd >= 0 ? fdatasync(fd) : 0; /* no run.json (library runs): nothing to flush */
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = fsync(ev->dir_fd);
    if (rc == 0)
        rc = fsync(ev->parent_fd);
    if (rc != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot make %s durable: %s", ev->dir, strerror(errno));
    return 0;
}

const char *tx_evidence_dir(const tx_evidence *ev)
{
    return ev->dir;
}

int tx_evidence_dir_fd(const tx_evidence *ev)
{
    return ev->dir_fd;
}

void tx_evidence_close(tx_evidence *ev)
{
    if (ev == NULL)
        return;
    if (ev->stream_fd >= 0)
        close(ev->stream_fd);
    if (ev->dir_fd >= 0)
        close(ev->dir_fd);
    if (ev->parent_fd >= 0)
        close(ev->parent_fd);
    free(ev);
}

/* The bytes a run record's MAC covers: the record without "mac", compact, keys sorted. */
static char *record_text(const json_t *run)
{
    json_t *copy = json_deep_copy(run);
    if (copy == NULL)
        return NULL;
    json_object_del(copy, "mac");
    char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(copy);
    return text;
}

/* "hmac-sha512-256:<hex>" of the record under key, into out (at least 96 bytes). */
static int record_mac(const json_t *run, const unsigned char *key, char *out, size_t cap)
{
    char *text = record_text(run);
    if (text == NULL)
        return -1;
    unsigned char mac[crypto_auth_BYTES];
    crypto_auth(mac, (const unsigned char *)text, strlen(text), key);
    free(text);
    char hex[crypto_auth_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, cap, "hmac-sha512-256:%s", hex);
    return 0;
}

int tx_run_record_seal(json_t *run, tx_error *err)
{
    unsigned char key[TX_RUN_KEY_BYTES];
    char mac[128], home[4096];
    tx_error home_err;
    /* An embedding program without HOME or TACTUS_HOME has nowhere to keep a key: its records
     * stay unsealed, and the CLI refuses to resume them ("carries no MAC"). */
    if (tx_home_dir(home, sizeof home, &home_err) != 0)
        return 0;
    if (tx_home_run_key(key, 1, err) != 0)
        return -1;
    int rc = record_mac(run, key, mac, sizeof mac);
    sodium_memzero(key, sizeof key);
    if (rc != 0 || json_object_set_new(run, "mac", json_string(mac)) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory sealing run.json");
    return 0;
}

int tx_run_record_verify(const json_t *run, const char *run_id, tx_error *err)
{
    const char *given = json_string_value(json_object_get(run, "mac"));
    const char *id = json_string_value(json_object_get(run, "run_id"));
    unsigned char key[TX_RUN_KEY_BYTES];
    char want[128];
    if (given == NULL)
        return tx_fail(err, TACTUS_EUSAGE, "its run.json carries no MAC");
    tx_error key_err;
    if (tx_home_run_key(key, 0, &key_err) != 0)
        return tx_fail(err, TACTUS_EUSAGE, "%s", key_err.message);
    int rc = record_mac(run, key, want, sizeof want);
    sodium_memzero(key, sizeof key);
    if (rc != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory checking run.json");
    if (strlen(given) != strlen(want) || sodium_memcmp(given, want, strlen(want)) != 0)
        return tx_fail(err, TACTUS_EUSAGE,
                       "its run.json does not carry this host's MAC (TACTUS_HOME/run.key)");
    if (id == NULL || run_id == NULL || strcmp(id, run_id) != 0)
        return tx_fail(err, TACTUS_EUSAGE, "its run.json belongs to run '%s'", id ? id : "?");
    return 0;
}
