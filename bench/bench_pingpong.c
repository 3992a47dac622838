/*
 * bench_pingpong.c - what the runner <-> broker protocol costs per Host.call round trip.
 *
 * Two processes (fork) on an AF_UNIX SOCK_STREAM socketpair, measured three ways:
 *   raw    write() the exact bytes of a framed tool.call request, read() the exact bytes of
 *          the framed done response back: the floor set by the kernel;
 *   frame  the same bytes through tx_frame_send / tx_frame_recv, no JSON: the framing layer's
 *          own cost;
 *   full   what a Host.call does: build the tool.call request, tx_msg_send; the broker side
 *          tx_frame_recv + tx_request_parse, builds the done response, tx_msg_send; the runner
 *          side tx_frame_recv + tx_response_parse + id check;
 *   full+t the same with a receive timeout on both sides (poll before each read).
 * Prints microseconds per round trip (median and best of the rounds) and full / raw.
 * A benchmark, not a test: it asserts nothing about speed.
 *
 * Usage: bench_pingpong [--iterations N] [--rounds R]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "protocol.h"

#define WARMUP 2000
#define MAX_ROUNDS 50

typedef enum mode { MODE_RAW, MODE_FRAME, MODE_FULL, MODE_FULL_TIMEOUT, MODE__COUNT } mode;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Reads exactly n bytes; returns 0, or -1 on error or end of file. */
static int read_exact(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Writes all n bytes; returns 0 or -1. */
static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * The request's params: {"name": "host.ping", "args": {"n": i, "text": "hello"}}. Built with
 * direct calls, as the runner's Lua-to-JSON conversion would, not json_pack (which parses its
 * format string on every call). Returns NULL if memory runs out.
 */
static json_t *make_params(long i)
{
    json_t *args = json_object();
    json_t *params = json_object();
    if (args == NULL || params == NULL ||
        json_object_set_new(args, "n", json_integer((json_int_t)i)) != 0 ||
        json_object_set_new(args, "text", json_string("hello")) != 0 ||
        json_object_set_new(params, "name", json_string("host.ping")) != 0 ||
        json_object_set(params, "args", args) != 0) {
        json_decref(args);
        json_decref(params);
        return NULL;
    }
    json_decref(args);
    return params;
}

/* The done data: {"result": {"ok": true, "echo": args}} (args borrowed; NULL gives null). */
static json_t *make_result(json_t *args)
{
    json_t *result = json_object();
    json_t *data = json_object();
    if (result == NULL || data == NULL || json_object_set_new(result, "ok", json_true()) != 0 ||
        json_object_set_new(result, "echo", args != NULL ? json_incref(args) : json_null()) != 0 ||
        json_object_set(data, "result", result) != 0) {
        json_decref(result);
        json_decref(data);
        return NULL;
    }
    json_decref(result);
    return data;
}

/* Encodes msg as a frame (header + compact JSON) into a malloc'd buffer. */
static unsigned char *frame_bytes(json_t *msg, size_t *len)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    if (text == NULL)
        return NULL;
    size_t n = strlen(text);
    unsigned char *f = malloc(n + 4);
    if (f != NULL) {
        f[0] = (unsigned char)(n >> 24);
        f[1] = (unsigned char)(n >> 16);
        f[2] = (unsigned char)(n >> 8);
        f[3] = (unsigned char)n;
        memcpy(f + 4, text, n);
        *len = n + 4;
    }
    free(text);
    return f;
}

/* The broker side of the full round trip: answers count tool.call requests, then exits. */
static int broker_loop(int fd, long count, int timeout_ms)
{
    tx_frame_reader r;
    tx_error err;
    if (tx_frame_reader_init(&r, 0, &err) != 0)
        return 1;
    for (long i = 0; i < count; i++) {
        const char *p;
        size_t len;
        if (tx_frame_recv(fd, &r, &p, &len, timeout_ms, &err) != 1) {
            fprintf(stderr, "broker: %s\n", err.message);
            return 1;
        }
        tx_request q;
        if (tx_request_parse(p, len, &q, &err) != 0 || q.id == NULL ||
            strcmp(q.method, TX_METHOD_TOOL_CALL) != 0) {
            fprintf(stderr, "broker: bad request: %s\n", err.message);
            tx_request_free(&q);
            return 1;
        }
        json_t *args = json_object_get(q.params, "args");
        json_t *data = make_result(args);
        json_t *done = data != NULL ? tx_msg_done(q.id, data) : NULL;
        int rc = done != NULL ? tx_msg_send(fd, done, &err) : -1;
        json_decref(done);
        tx_request_free(&q);
        if (rc != 0) {
            fprintf(stderr, "broker: %s\n", err.message);
            return 1;
        }
    }
    tx_frame_reader_free(&r);
    return 0;
}

/* The broker side of the frame-only round trip: receives count frames, answers each with the
 * given payload. */
static int frame_echo_loop(int fd, long count, const unsigned char *resp, size_t resp_len)
{
    tx_frame_reader r;
    tx_error err;
    if (tx_frame_reader_init(&r, 0, &err) != 0)
        return 1;
    for (long i = 0; i < count; i++) {
        const char *p;
        size_t len;
        if (tx_frame_recv(fd, &r, &p, &len, -1, &err) != 1 ||
            tx_frame_send(fd, resp, resp_len, &err) != 0) {
            fprintf(stderr, "frame echo: %s\n", err.message);
            return 1;
        }
    }
    tx_frame_reader_free(&r);
    return 0;
}

/* The runner side of one full round trip with request id i. Returns 0 or -1. */
static int runner_call(int fd, tx_frame_reader *r, long i, int timeout_ms)
{
    tx_error err;
    json_t *id = json_integer(i);
    json_t *req = tx_msg_request(id, TX_METHOD_TOOL_CALL, make_params(i));
    int rc = req != NULL ? tx_msg_send(fd, req, &err) : -1;
    json_decref(req);
    const char *p;
    size_t len;
    if (rc == 0 && tx_frame_recv(fd, r, &p, &len, timeout_ms, &err) != 1)
        rc = -1;
    if (rc == 0) {
        tx_response resp;
        if (tx_response_parse(p, len, &resp, &err) != 0 || resp.is_error ||
            !json_equal(resp.id, id))
            rc = -1;
        tx_response_free(&resp);
    }
    if (rc != 0)
        fprintf(stderr, "runner: %s\n", err.message);
    json_decref(id);
    return rc;
}

/*
 * Runs one measurement of n round trips (after WARMUP unmeasured ones) in mode m between this
 * process and a forked child. Returns microseconds per round trip, or -1 on failure.
 */
static double measure(mode m, long n, const unsigned char *req, size_t req_len,
                      const unsigned char *resp, size_t resp_len)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("socketpair");
        return -1;
    }
    long total = n + WARMUP;
    int timeout_ms = m == MODE_FULL_TIMEOUT ? 30000 : -1;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        if (m == MODE_RAW) {
            unsigned char *buf = malloc(req_len);
            if (buf == NULL)
                _exit(1);
            for (long i = 0; i < total; i++)
                if (read_exact(sv[1], buf, req_len) != 0 || write_all(sv[1], resp, resp_len) != 0)
                    _exit(1);
            free(buf);
            _exit(0);
        }
        if (m == MODE_FRAME)
            _exit(frame_echo_loop(sv[1], total, resp + 4, resp_len - 4));
        _exit(broker_loop(sv[1], total, timeout_ms));
    }
    close(sv[1]);
    double us = -1;
    int ok = 1;
    if (m == MODE_RAW) {
        unsigned char *buf = malloc(resp_len);
        double t0 = 0;
        for (long i = 0; ok && buf != NULL && i < total; i++) {
            if (i == WARMUP)
                t0 = now_us();
            ok = write_all(sv[0], req, req_len) == 0 && read_exact(sv[0], buf, resp_len) == 0;
        }
        if (ok && buf != NULL)
            us = (now_us() - t0) / (double)n;
        free(buf);
    } else {
        tx_frame_reader r;
        tx_error err;
        ok = tx_frame_reader_init(&r, 0, &err) == 0;
        double t0 = 0;
        for (long i = 0; ok && i < total; i++) {
            if (i == WARMUP)
                t0 = now_us();
            if (m == MODE_FRAME) {
                const char *p;
                size_t len;
                ok = tx_frame_send(sv[0], req + 4, req_len - 4, &err) == 0 &&
                     tx_frame_recv(sv[0], &r, &p, &len, -1, &err) == 1 && len == resp_len - 4;
            } else {
                ok = runner_call(sv[0], &r, i, timeout_ms) == 0;
            }
        }
        if (ok)
            us = (now_us() - t0) / (double)n;
        tx_frame_reader_free(&r);
    }
    close(sv[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return ok ? us : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v (n values) and returns the median. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Parses a positive integer option value; exits with a usage message if it is not one. */
static long positive(const char *opt, const char *s, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > max) {
        fprintf(stderr, "bench_pingpong: %s needs an integer from 1 to %ld, got \"%s\"\n", opt, max,
                s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long n = 100000;
    int rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            n = positive("--iterations", argv[++i], 100000000);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = (int)positive("--rounds", argv[++i], MAX_ROUNDS);
        } else {
            fprintf(stderr, "usage: bench_pingpong [--iterations N] [--rounds R]\n");
            return 2;
        }
    }

    /* The frames the raw ping-pong sends: byte for byte what the full path sends. */
    json_t *id = json_integer(12345);
    json_t *req_msg = tx_msg_request(id, TX_METHOD_TOOL_CALL, make_params(12345));
    json_t *resp_msg =
        tx_msg_done(id, make_result(json_object_get(json_object_get(req_msg, "params"), "args")));
    size_t req_len = 0, resp_len = 0;
    unsigned char *req = req_msg != NULL ? frame_bytes(req_msg, &req_len) : NULL;
    unsigned char *resp = resp_msg != NULL ? frame_bytes(resp_msg, &resp_len) : NULL;
    json_decref(req_msg);
    json_decref(resp_msg);
    json_decref(id);
    if (req == NULL || resp == NULL) {
        fprintf(stderr, "bench_pingpong: could not build the messages\n");
        return 1;
    }

    static const char *const names[MODE__COUNT] = {
        "raw socketpair ping-pong", "frames only (tx_frame_*)", "full Host.call round trip",
        "full, with recv timeout (poll)"};
    double results[MODE__COUNT][MAX_ROUNDS];
    /* Interleave the modes so drift in machine load hits them alike. */
    for (int k = 0; k < rounds; k++) {
        for (int m = 0; m < MODE__COUNT; m++) {
            results[m][k] = measure((mode)m, n, req, req_len, resp, resp_len);
            if (results[m][k] < 0) {
                fprintf(stderr, "bench_pingpong: %s failed\n", names[m]);
                return 1;
            }
        }
    }
    printf("bench_pingpong: %ld round trips x %d rounds; request frame %zu bytes, response "
           "frame %zu bytes\n",
           n, rounds, req_len, resp_len);
    double med[MODE__COUNT], best[MODE__COUNT];
    for (int m = 0; m < MODE__COUNT; m++) {
        med[m] = median(results[m], rounds);
        best[m] = results[m][0]; /* sorted by median() */
        printf("  %-32s %8.2f us/round trip (median), %8.2f (best)\n", names[m], med[m], best[m]);
    }
    for (int m = 1; m < MODE__COUNT; m++)
        printf("  ratio %-26s %8.2f (median), %8.2f (best)\n", names[m], med[m] / med[0],
               best[m] / best[0]);
    free(req);
    free(resp);
    return 0;
}
