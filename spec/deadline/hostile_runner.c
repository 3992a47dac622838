/* hostile_runner.c - a runner that attacks the broker's waits instead of running the procedure
 * (issue 8, "Hangs"): started as `hostile_runner __runner` with the socket on fd 3, like the
 * real one, it reads its job and then, by the job's chunkname:
 *   trickle.tac  sends a frame header announcing 100 bytes, then one byte every 50 ms: a broker
 *                that waits for whole frames without a deadline never gets one;
 *   noread.tac   passes the phase checks with its tokens (a compromised runner has them) and
 *                floods requests without ever reading a reply: a broker that sends without a
 *                deadline blocks once the socket's buffer is full.
 * Either way it then sleeps until the broker kills it (at most 10 minutes). */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FD 3

static int write_all(const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = write(FD, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = read(FD, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One frame: 4-byte big-endian length, then the compact JSON of {id, method, params}. */
static int send_request(int id, const char *method, json_t *params)
{
    json_t *m = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params", params);
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (text == NULL)
        return -1;
    size_t n = strlen(text);
    unsigned char hdr[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                            (unsigned char)(n >> 8), (unsigned char)n};
    int rc = write_all(hdr, 4) == 0 && write_all(text, n) == 0 ? 0 : -1;
    free(text);
    return rc;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(void)
{
    unsigned char hdr[4];
    if (read_all(hdr, 4) != 0)
        return 70;
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0 || n > (64u << 20))
        return 70;
    char *buf = malloc(n);
    if (buf == NULL || read_all(buf, n) != 0)
        return 70;
    json_error_t jerr;
    json_t *msg = json_loadb(buf, n, 0, &jerr);
    free(buf);
    json_t *job = json_object_get(json_object_get(msg, "params"), "job");
    const char *chunk = json_string_value(json_object_get(job, "chunkname"));
    json_t *tokens = json_object_get(job, "tokens");
    if (chunk == NULL)
        return 70;
    if (strcmp(chunk, "trickle.tac") == 0) {
        unsigned char announce[4] = {0, 0, 0, 100};
        write_all(announce, 4);
        for (int i = 0; i < 12000; i++) { /* 10 minutes */
            if (write_all("{", 1) != 0)
                break;
            pause_ms(50);
        }
    } else if (strcmp(chunk, "noread.tac") == 0) {
        send_request(1, "session.setup", json_pack("{s:O}", "token", json_array_get(tokens, 0)));
        send_request(2, "session.run", json_pack("{s:O}", "token", json_array_get(tokens, 1)));
        /* ~64 KiB of replies per 1000 requests: far more than a socket buffer holds. */
        for (int i = 0; i < 200000; i++)
            if (send_request(3 + i, "tool.call",
                             json_pack("{s:s, s:{}}", "name", "host.ping", "args")) != 0)
                break;
    }
    json_decref(msg);
    pause_ms(600000);
    return 0;
}
