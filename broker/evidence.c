/* evidence.c - writing the run directory. */
#include "evidence.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tx_evidence {
    char dir[PATH_MAX];
    int stream_fd;
    long long seq;
    uint64_t stream_bytes; /* size of stream.jsonl: what earlier attempts left plus our lines */
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

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
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

int tx_evidence_open(const char *run_dir, int resume, tx_evidence **out, tx_error *err)
{
    tx_evidence *ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory");
    if (snprintf(ev->dir, sizeof ev->dir, "%s", run_dir) >= (int)sizeof ev->dir) {
        free(ev);
        return tx_fail(err, TACTUS_EUSAGE, "run directory path too long: %s", run_dir);
    }
    if (tx_mkdirs(run_dir, 0755, err) != 0) {
        free(ev);
        return -1;
    }
    chmod(run_dir, 0700);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/stream.jsonl", run_dir);
    int flags = O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | (resume ? 0 : O_EXCL);
    ev->stream_fd = open(path, flags, 0600);
    if (ev->stream_fd < 0) {
        int e = errno;
        free(ev);
        return tx_fail(err, e == EEXIST ? TACTUS_EUSAGE : TACTUS_ESYSTEM, "cannot create %s: %s",
                       path, e == EEXIST ? "run directory already in use" : strerror(e));
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
    if (rc != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot write %s/stream.jsonl: %s", ev->dir,
                       strerror(errno));
    return 0;
}

int tx_evidence_write_json(tx_evidence *ev, const char *name, json_t *value, tx_error *err)
{
    char tmp[PATH_MAX + 64], path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", ev->dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", ev->dir, name);
    char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (text == NULL)
        return tx_fail(err, TACTUS_ESYSTEM, "out of memory encoding %s", name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(text);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot create %s: %s", tmp, strerror(errno));
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
    if (rc != 0 || rename(tmp, path) != 0) {
        if (rc == 0)
            saved = errno;
        unlink(tmp);
        return tx_fail(err, TACTUS_ESYSTEM, "cannot write %s: %s", path, strerror(saved));
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

uint64_t tx_evidence_stream_bytes(const tx_evidence *ev)
{
    return ev->stream_bytes;
}

int tx_evidence_sync(tx_evidence *ev, tx_error *err)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/run.json", ev->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd >= 0 ? fdatasync(fd) : 0; /* no run.json (library runs): nothing to flush */
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = fsync_dir(ev->dir);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", ev->dir);
    char *slash = strrchr(parent, '/');
    if (rc == 0 && slash != NULL && slash != parent) {
        *slash = '\0';
        rc = fsync_dir(parent);
    }
    if (rc != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "cannot make %s durable: %s", ev->dir, strerror(errno));
    return 0;
}

const char *tx_evidence_dir(const tx_evidence *ev)
{
    return ev->dir;
}

void tx_evidence_close(tx_evidence *ev)
{
    if (ev == NULL)
        return;
    if (ev->stream_fd >= 0)
        close(ev->stream_fd);
    free(ev);
}
