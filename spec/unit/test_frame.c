/*
 * test_frame.c - the byte-level framing of the runner <-> broker channel (broker/frame.c):
 * incremental decoding, socket send/receive, hostile peers (bad lengths, truncation,
 * descriptor passing, dead peers) and the SO_PEERCRED check.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

/* Appends one frame (header + payload) to buf at *off. */
static void put_frame(unsigned char *buf, size_t *off, const void *payload, uint32_t len)
{
    buf[*off] = (unsigned char)(len >> 24);
    buf[*off + 1] = (unsigned char)(len >> 16);
    buf[*off + 2] = (unsigned char)(len >> 8);
    buf[*off + 3] = (unsigned char)len;
    memcpy(buf + *off + 4, payload, len);
    *off += 4 + len;
}

static void make_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Writes all n bytes of p to fd, or fails the test. */
static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        ck_assert_int_gt(w, 0);
        c += w;
        n -= (size_t)w;
    }
}

/* Fills out (size n) with the set of open descriptors below n: 1 if open. */
static void open_fds(unsigned char *out, int n)
{
    for (int fd = 0; fd < n; fd++)
        out[fd] = fcntl(fd, F_GETFD) != -1;
}

/* A deterministic payload of n bytes, different for each seed. */
static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed * 7 + (i >> 8));
    return p;
}

START_TEST(test_reader_init_limits)
{
    tx_frame_reader r;
    tx_error err;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_uint_eq(r.max, TX_FRAME_MAX);
    ck_assert_ptr_null(r.buf); /* nothing allocated before the first byte */
    ck_assert_int_eq(tx_frame_reader_init(&r, TX_FRAME_MAX + 1, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.message, "exceeds the protocol maximum"));
    tx_frame_reader_free(&r);
    tx_frame_reader_free(&r);
    tx_frame_reader_free(NULL);
}
END_TEST

START_TEST(test_socket_round_trip)
{
    /* Sizes from 1 byte to the protocol maximum, sent by a child: the big ones do not fit in
     * the socket buffer, so the writer must run concurrently. */
    static const size_t sizes[] = {1, 2, 100, 4096, 65535, 65536, 65537, 1 << 20, TX_FRAME_MAX, 7};
    const int count = (int)(sizeof sizes / sizeof sizes[0]);
    int sv[2];
    make_pair(sv);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(sv[0]);
        for (int i = 0; i < count; i++) {
            tx_error e;
            unsigned char *p = pattern(sizes[i], (unsigned)i);
            if (tx_frame_send(sv[1], p, sizes[i], &e) != 0)
                _exit(1);
            free(p);
        }
        _exit(0);
    }
    close(sv[1]);
    tx_frame_reader r;
    tx_error err;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    for (int i = 0; i < count; i++) {
        const char *payload;
        size_t len;
        ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, 10000, &err), 1);
        ck_assert_uint_eq(len, sizes[i]);
        unsigned char *want = pattern(sizes[i], (unsigned)i);
        ck_assert_int_eq(memcmp(payload, want, len), 0);
        free(want);
        ck_assert_uint_le(r.cap, TX_FRAME_MAX + TX_FRAME_HEADER);
    }
    const char *payload;
    size_t len;
    /* The last frame was small: the 4 MiB buffer of the big one was given back. */
    ck_assert_uint_le(r.cap, 64 * 1024);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, 10000, &err), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tx_frame_reader_free(&r);
    close(sv[0]);
}
END_TEST

START_TEST(test_steady_state_reuses_buffer)
{
    int sv[2];
    make_pair(sv);
    tx_frame_reader r;
    tx_error err;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    const char msg[] = "{\"id\":1,\"method\":\"tool.call\"}";
    ck_assert_int_eq(tx_frame_send(sv[1], msg, sizeof msg - 1, &err), 0);
    const char *payload;
    size_t len;
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, -1, &err), 1);
    unsigned char *buf = r.buf;
    size_t cap = r.cap;
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(tx_frame_send(sv[1], msg, sizeof msg - 1, &err), 0);
        ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, -1, &err), 1);
        ck_assert_uint_eq(len, sizeof msg - 1);
        ck_assert_int_eq(memcmp(payload, msg, len), 0);
        ck_assert_ptr_eq(r.buf, buf);
        ck_assert_uint_eq(r.cap, cap);
    }
    tx_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Three frames of different sizes, concatenated; used by the split tests. */
static size_t three_frames(unsigned char *buf)
{
    size_t off = 0;
    put_frame(buf, &off, "a", 1);
    put_frame(buf, &off, "{\"id\":\"x\",\"method\":\"events.emit\"}", 33);
    put_frame(buf, &off, "0123456789", 10);
    return off;
}

/* Pops every complete frame; checks them against the three_frames() list from index *next. */
static void pop_expected(tx_frame_reader *r, int *next)
{
    static const char *const want[] = {"a", "{\"id\":\"x\",\"method\":\"events.emit\"}",
                                       "0123456789"};
    const char *payload;
    size_t len;
    tx_error err;
    int rc;
    while ((rc = tx_frame_reader_pop(r, &payload, &len, &err)) == 1) {
        ck_assert_int_lt(*next, 3);
        ck_assert_uint_eq(len, strlen(want[*next]));
        ck_assert_int_eq(memcmp(payload, want[*next], len), 0);
        (*next)++;
    }
    ck_assert_int_eq(rc, 0);
}

START_TEST(test_split_at_every_offset)
{
    unsigned char buf[128];
    size_t n = three_frames(buf);
    for (size_t k = 0; k <= n; k++) {
        for (size_t k2 = k; k2 <= n; k2++) {
            tx_frame_reader r;
            tx_error err;
            int next = 0;
            ck_assert_int_eq(tx_frame_reader_init(&r, 64, &err), 0);
            ck_assert_int_eq(tx_frame_reader_feed(&r, buf, k, &err), (ptrdiff_t)k);
            pop_expected(&r, &next);
            ck_assert_int_eq(tx_frame_reader_feed(&r, buf + k, k2 - k, &err), (ptrdiff_t)(k2 - k));
            pop_expected(&r, &next);
            ck_assert_int_eq(tx_frame_reader_feed(&r, buf + k2, n - k2, &err), (ptrdiff_t)(n - k2));
            pop_expected(&r, &next);
            ck_assert_int_eq(next, 3);
            ck_assert_uint_eq(tx_frame_reader_pending(&r), 0);
            tx_frame_reader_free(&r);
        }
    }
}
END_TEST

START_TEST(test_byte_by_byte_over_socket)
{
    /* Frames dribbled one byte per write: tx_frame_recv must assemble them. */
    unsigned char buf[128];
    size_t n = three_frames(buf);
    int sv[2];
    make_pair(sv);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (size_t i = 0; i < n; i++) {
            if (write(sv[1], buf + i, 1) != 1)
                _exit(1);
            usleep(200);
        }
        _exit(0);
    }
    close(sv[1]);
    tx_frame_reader r;
    tx_error err;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    const char *payload;
    size_t len;
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, 5000, &err), 1);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, 5000, &err), 1);
    ck_assert_uint_eq(len, 33);
    ck_assert_int_eq(memcmp(payload, "{\"id\":\"x\"", 9), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, 5000, &err), 1);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(memcmp(payload, "0123456789", 10), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &payload, &len, 5000, &err), 0);
    waitpid(pid, NULL, 0);
    tx_frame_reader_free(&r);
    close(sv[0]);
}
END_TEST

START_TEST(test_many_frames_one_feed_bounded)
{
    /* 1000 frames of up to 60 bytes in one buffer, into a reader whose maximum is 60: the
     * reader takes what fits, the caller pops and feeds the rest, memory stays bounded. */
    enum { N = 1000, MAX = 60 };
    unsigned char *buf = malloc((size_t)N * (4 + MAX));
    ck_assert_ptr_nonnull(buf);
    size_t total = 0;
    char payload_src[MAX];
    for (int i = 0; i < N; i++) {
        uint32_t len = (uint32_t)(i % MAX) + 1;
        memset(payload_src, 'a' + i % 26, len);
        put_frame(buf, &total, payload_src, len);
    }
    tx_frame_reader r;
    tx_error err;
    ck_assert_int_eq(tx_frame_reader_init(&r, MAX, &err), 0);
    size_t off = 0;
    int got = 0;
    int rounds = 0;
    while (off < total || tx_frame_reader_pending(&r) > 0) {
        ptrdiff_t took = tx_frame_reader_feed(&r, buf + off, total - off, &err);
        ck_assert_int_ge(took, 0);
        off += (size_t)took;
        ck_assert_uint_le(r.cap, MAX + TX_FRAME_HEADER);
        ck_assert_uint_le(tx_frame_reader_pending(&r), MAX + TX_FRAME_HEADER);
        const char *p;
        size_t len;
        int rc;
        while ((rc = tx_frame_reader_pop(&r, &p, &len, &err)) == 1) {
            ck_assert_uint_eq(len, (size_t)(got % MAX) + 1);
            ck_assert_int_eq(p[0], 'a' + got % 26);
            ck_assert_int_eq(p[len - 1], 'a' + got % 26);
            got++;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_int_lt(++rounds, 100000);
    }
    ck_assert_int_eq(got, N);
    tx_frame_reader_free(&r);
    free(buf);

    /* With the default maximum the whole buffer goes in at once and pops in order. */
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    unsigned char small[128];
    size_t n = three_frames(small);
    unsigned char twice[256];
    memcpy(twice, small, n);
    memcpy(twice + n, small, n);
    ck_assert_int_eq(tx_frame_reader_feed(&r, twice, 2 * n, &err), (ptrdiff_t)(2 * n));
    static const size_t lens[] = {1, 33, 10, 1, 33, 10};
    for (int i = 0; i < 6; i++) {
        const char *p;
        size_t len;
        ck_assert_int_eq(tx_frame_reader_pop(&r, &p, &len, &err), 1);
        ck_assert_uint_eq(len, lens[i]);
    }
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_pop(&r, &p, &len, &err), 0);
    tx_frame_reader_free(&r);
}
END_TEST

START_TEST(test_zero_length_frame)
{
    tx_frame_reader r;
    tx_error err;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    unsigned char buf[16];
    size_t off = 0;
    put_frame(buf, &off, "ok", 2);
    memset(buf + off, 0, 4);
    off += 4;
    /* The bad header sits behind a good frame: feed takes the bytes, the good frame pops,
     * and the pop that reaches the bad header fails. */
    ck_assert_int_eq(tx_frame_reader_feed(&r, buf, off, &err), (ptrdiff_t)off);
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_pop(&r, &p, &len, &err), 1);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(tx_frame_reader_pop(&r, &p, &len, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EPROC);
    ck_assert_ptr_nonnull(strstr(err.message, "zero-length frame"));
    /* The reader stays failed: a broken stream cannot be resynchronised. */
    ck_assert_int_eq(tx_frame_reader_pop(&r, &p, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "unusable"));
    ck_assert_int_eq(tx_frame_reader_feed(&r, "x", 1, &err), -1);
    tx_frame_reader_free(&r);

    /* And over a socket. */
    int sv[2];
    make_pair(sv);
    write_all(sv[1], "\0\0\0\0", 4);
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 1000, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "zero-length frame"));
    tx_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_oversized_header_allocates_nothing)
{
    tx_frame_reader r;
    tx_error err;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    /* Announce 4 GiB - 1: refused at the header, before any buffer for it exists. */
    ck_assert_int_eq(tx_frame_reader_feed(&r, "\xff\xff\xff\xff", 4, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EPROC);
    ck_assert_ptr_nonnull(strstr(err.message, "oversized frame"));
    ck_assert_ptr_nonnull(strstr(err.message, "4294967295"));
    ck_assert_uint_le(r.cap, 64 * 1024);
    tx_frame_reader_free(&r);

    /* Exactly at a small maximum passes; one byte over fails. */
    ck_assert_int_eq(tx_frame_reader_init(&r, 16, &err), 0);
    unsigned char buf[64];
    size_t off = 0;
    put_frame(buf, &off, "0123456789abcdef", 16);
    ck_assert_int_eq(tx_frame_reader_feed(&r, buf, off, &err), (ptrdiff_t)off);
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_pop(&r, &p, &len, &err), 1);
    ck_assert_uint_eq(len, 16);
    ck_assert_uint_le(r.cap, 16 + TX_FRAME_HEADER);
    ck_assert_int_eq(tx_frame_reader_feed(&r, "\0\0\0\x11", 4, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "announces 17 bytes, the maximum is 16"));
    tx_frame_reader_free(&r);

    /* Over a socket: the error comes as soon as the header is in, without waiting for the
     * (never sent) payload. */
    int sv[2];
    make_pair(sv);
    write_all(sv[1], "\x7f\xff\xff\xff", 4);
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 2000, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "oversized frame"));
    ck_assert_uint_le(r.cap, 64 * 1024);
    tx_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_truncated_frame_then_eof)
{
    int sv[2];
    make_pair(sv);
    write_all(sv[1],
              "\0\0\0\x0a"
              "01234",
              9);
    close(sv[1]);
    tx_frame_reader r;
    tx_error err;
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 1000, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EPROC);
    ck_assert_str_eq(err.message, "truncated frame: connection closed after 5 of 10 payload bytes");
    tx_frame_reader_free(&r);
    close(sv[0]);

    /* EOF inside the length header. */
    make_pair(sv);
    write_all(sv[1], "\0\0", 2);
    close(sv[1]);
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, -1, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "truncated frame"));
    ck_assert_ptr_nonnull(strstr(err.message, "length header (2 of 4 bytes)"));
    tx_frame_reader_free(&r);
    close(sv[0]);
}
END_TEST

START_TEST(test_clean_eof)
{
    int sv[2];
    make_pair(sv);
    tx_error err;
    ck_assert_int_eq(tx_frame_send(sv[1], "{}", 2, &err), 0);
    ck_assert_int_eq(tx_frame_send(sv[1], "[]", 2, &err), 0);
    close(sv[1]);
    tx_frame_reader r;
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, -1, &err), 1);
    ck_assert_int_eq(memcmp(p, "{}", 2), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, -1, &err), 1);
    ck_assert_int_eq(memcmp(p, "[]", 2), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, -1, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, -1, &err), 0); /* stays at EOF */
    tx_frame_reader_free(&r);
    close(sv[0]);
}
END_TEST

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

START_TEST(test_timeout)
{
    int sv[2];
    make_pair(sv);
    tx_frame_reader r;
    tx_error err;
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 100, &err), -1);
    double ms = elapsed_ms(&t0);
    ck_assert_int_eq(err.status, TACTUS_ETIMEOUT);
    ck_assert_ptr_nonnull(strstr(err.message, "timed out after 100 ms"));
    ck_assert(ms >= 95 && ms < 2000);

    /* Timeout 0 polls. A partial frame survives a timeout and completes later. */
    write_all(sv[1],
              "\0\0\0\x03"
              "ab",
              6);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 0, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_ETIMEOUT);
    ck_assert_uint_eq(tx_frame_reader_pending(&r), 6);
    write_all(sv[1], "c", 1);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 0, &err), 1);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(p, "abc", 3), 0);
    tx_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_nonblocking_socket_waits)
{
    /* A non-blocking fd with timeout -1 must still wait, not spin or fail with EAGAIN. */
    int sv[2];
    make_pair(sv);
    ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tx_error e;
        usleep(50 * 1000);
        _exit(tx_frame_send(sv[1], "late", 4, &e) == 0 ? 0 : 1);
    }
    tx_frame_reader r;
    tx_error err;
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, -1, &err), 1);
    ck_assert_int_eq(memcmp(p, "late", 4), 0);
    waitpid(pid, NULL, 0);
    tx_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Sends a frame "hi" carrying nfds descriptors (duplicates of fd) as SCM_RIGHTS. */
static void send_with_fds(int sock, int fd, int nfds)
{
    unsigned char data[6] = {0, 0, 0, 2, 'h', 'i'};
    struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 200)];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    for (int i = 0; i < nfds; i++)
        memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof fd);
    ck_assert_int_eq(sendmsg(sock, &mh, 0), (ssize_t)sizeof data);
}

START_TEST(test_scm_rights_refused_and_closed)
{
    static const int counts[] = {1, 5, 200};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        int sv[2];
        make_pair(sv);
        int victim = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(victim, 0);
        send_with_fds(sv[1], victim, counts[k]);
        close(victim); /* now only the in-flight copies keep it alive */

        enum { NFD = 1024 };
        unsigned char before[NFD], after[NFD];
        open_fds(before, NFD);
        tx_frame_reader r;
        tx_error err;
        const char *p;
        size_t len;
        ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
        ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 1000, &err), -1);
        ck_assert_int_eq(err.status, TACTUS_EPROC);
        ck_assert_str_eq(err.message, "peer sent ancillary data (file descriptors are refused)");
        open_fds(after, NFD);
        ck_assert_int_eq(memcmp(before, after, NFD), 0); /* no received fd stays open */
        /* The stream is then dead: even a well-formed frame is not accepted. */
        ck_assert_int_eq(tx_frame_send(sv[1], "ok", 2, &err), 0);
        ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 1000, &err), -1);
        tx_frame_reader_free(&r);
        close(sv[0]);
        close(sv[1]);
    }
}
END_TEST

START_TEST(test_credentials_refused)
{
    /* If the receiving socket were set to pass credentials, every message would carry
     * SCM_CREDENTIALS: that ancillary data is refused too. */
    int sv[2];
    make_pair(sv);
    int one = 1;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
    tx_error err;
    ck_assert_int_eq(tx_frame_send(sv[1], "hi", 2, &err), 0);
    tx_frame_reader r;
    const char *p;
    size_t len;
    ck_assert_int_eq(tx_frame_reader_init(&r, 0, &err), 0);
    ck_assert_int_eq(tx_frame_recv(sv[0], &r, &p, &len, 1000, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "peer sent ancillary data"));
    tx_frame_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_epipe_without_sigpipe)
{
    /* Default SIGPIPE disposition: a plain write would kill this test process. */
    signal(SIGPIPE, SIG_DFL);
    int sv[2];
    make_pair(sv);
    close(sv[0]);
    tx_error err;
    ck_assert_int_eq(tx_frame_send(sv[1], "hello", 5, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_ESYSTEM);
    ck_assert_ptr_nonnull(strstr(err.message, "peer closed the connection"));
    close(sv[1]);

    /* Peer dies while a large frame is half sent. */
    make_pair(sv);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char b[1000];
        close(sv[1]);
        (void)!read(sv[0], b, sizeof b);
        _exit(0);
    }
    close(sv[0]);
    unsigned char *big = pattern(TX_FRAME_MAX, 1);
    ck_assert_int_eq(tx_frame_send(sv[1], big, TX_FRAME_MAX, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "send frame"));
    free(big);
    waitpid(pid, NULL, 0);
    close(sv[1]);
}
END_TEST

START_TEST(test_send_refuses_bad_sizes)
{
    int sv[2];
    make_pair(sv);
    tx_error err;
    ck_assert_int_eq(tx_frame_send(sv[1], "", 0, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.message, "zero-length"));
    ck_assert_int_eq(tx_frame_send(sv[1], "x", TX_FRAME_MAX + 1, &err), -1);
    ck_assert_int_eq(err.status, TACTUS_EUSAGE);
    ck_assert_ptr_nonnull(strstr(err.message, "exceeds the protocol maximum"));
    /* Nothing went out. */
    char b;
    ck_assert_int_eq(recv(sv[0], &b, 1, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_peer_check)
{
    int sv[2];
    make_pair(sv);
    tx_error err;
    /* A socketpair's peer credentials are its creator's (us), on both ends. */
    ck_assert_int_eq(tx_peer_check(sv[0], getpid(), &err), 0);
    ck_assert_int_eq(tx_peer_check(sv[1], 0, &err), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tx_error e;
        _exit(tx_peer_check(sv[1], getppid(), &e) == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Mismatch: another pid. */
    ck_assert_int_eq(tx_peer_check(sv[0], pid, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "peer is pid"));
    ck_assert_int_eq(err.status, TACTUS_ESYSTEM);
    close(sv[0]);
    close(sv[1]);

    /* Not a socket at all. */
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(tx_peer_check(pfd[0], getpid(), &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "not a socket"));
    close(pfd[0]);
    close(pfd[1]);

    /* Not a Unix socket. */
    int in = socket(AF_INET, SOCK_STREAM, 0);
    if (in >= 0) {
        ck_assert_int_eq(tx_peer_check(in, 0, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.message, "not a Unix socket"));
        close(in);
    }

    /* Another uid: only testable as root (create the pair under a borrowed euid), and not
     * as the root of a user namespace that does not map 65534 (spec/run's userns pass). */
    if (geteuid() == 0 && seteuid(65534) == 0) {
        int rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
        ck_assert_int_eq(seteuid(0), 0);
        ck_assert_int_eq(rc, 0);
        ck_assert_int_eq(tx_peer_check(sv[0], getpid(), &err), -1);
        ck_assert_ptr_nonnull(strstr(err.message, "peer runs as uid 65534, expected uid 0"));
        close(sv[0]);
        close(sv[1]);
    }
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reader_init_limits);
    tcase_add_test(tc, test_socket_round_trip);
    tcase_add_test(tc, test_steady_state_reuses_buffer);
    tcase_add_test(tc, test_split_at_every_offset);
    tcase_add_test(tc, test_byte_by_byte_over_socket);
    tcase_add_test(tc, test_many_frames_one_feed_bounded);
    tcase_add_test(tc, test_zero_length_frame);
    tcase_add_test(tc, test_oversized_header_allocates_nothing);
    tcase_add_test(tc, test_truncated_frame_then_eof);
    tcase_add_test(tc, test_clean_eof);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_nonblocking_socket_waits);
    tcase_add_test(tc, test_scm_rights_refused_and_closed);
    tcase_add_test(tc, test_credentials_refused);
    tcase_add_test(tc, test_epipe_without_sigpipe);
    tcase_add_test(tc, test_send_refuses_bad_sizes);
    tcase_add_test(tc, test_peer_check);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
