/*
 * frame.c - length-prefixed frames over a Unix stream socket (see frame.h).
 *
 * The hot path is one sendmsg per frame sent and, when the peer answers promptly, one recvmsg
 * per frame received, into a buffer that is reused for the life of the reader. Every length the
 * peer announces is checked against the reader's maximum before any memory is set aside for it.
 */
#include "frame.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* First buffer size, and so the most read by one recvmsg until a larger frame needs more. */
#define TX_FRAME_CHUNK ((size_t)64 << 10)

/* An empty buffer bigger than this is given back rather than kept after a large frame, so one
 * big message does not pin megabytes for the rest of the run. */
#define TX_FRAME_KEEP (4 * TX_FRAME_CHUNK)

/* Largest number of descriptors one SCM_RIGHTS message can carry (the kernel's SCM_MAX_FD). */
#define TX_SCM_MAX_FD 253

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int tx_frame_reader_init(tx_frame_reader *r, size_t max, tx_error *err)
{
    memset(r, 0, sizeof *r);
    if (max == 0)
        max = TX_FRAME_MAX;
    if (max > TX_FRAME_MAX)
        return tx_fail(err, TACTUS_EUSAGE,
                       "frame reader: maximum payload %zu exceeds the protocol maximum %zu", max,
                       TX_FRAME_MAX);
    r->max = max;
    return 0;
}

void tx_frame_reader_free(tx_frame_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

size_t tx_frame_reader_pending(const tx_frame_reader *r)
{
    return r->end - r->start;
}

/* Marks r unusable and reports it: after a bad header the byte stream cannot be resynchronised. */
static int reader_failed(tx_error *err)
{
    return tx_fail(err, TACTUS_EPROC,
                   "frame reader is unusable after an earlier protocol or I/O error");
}

/*
 * Looks at the length header of the frame at r->start. Sets *flen to the whole frame's size
 * (header + payload) once the 4 header bytes are buffered, else to 0. Returns 0, or -1 (r is
 * then failed) for a zero length or one above r->max.
 */
static int check_header(tx_frame_reader *r, size_t *flen, tx_error *err)
{
    *flen = 0;
    if (r->end - r->start < TX_FRAME_HEADER)
        return 0;
    uint32_t n = get_be32(r->buf + r->start);
    if (n == 0) {
        r->failed = 1;
        return tx_fail(err, TACTUS_EPROC, "zero-length frame (protocol error)");
    }
    if (n > r->max) {
        r->failed = 1;
        return tx_fail(err, TACTUS_EPROC,
                       "oversized frame: header announces %lu bytes, the maximum is %zu",
                       (unsigned long)n, r->max);
    }
    *flen = TX_FRAME_HEADER + (size_t)n;
    return 0;
}

/*
 * Prepares r to take more bytes: moves unpopped bytes to the front of the buffer and grows it
 * so the frame being received fits whole (or, when empty, gives back a buffer a large frame
 * left behind). Sets *room to the free bytes at buf + end; that is 0
 * only when the buffer is full of complete frames, which must be popped first. Returns 0, or -1
 * for a bad header (checked before growing, so a hostile length allocates nothing) or no memory.
 */
static int make_room(tx_frame_reader *r, size_t *room, tx_error *err)
{
    *room = 0;
    if (r->failed)
        return reader_failed(err);
    size_t flen;
    if (check_header(r, &flen, err) < 0)
        return -1;
    if (r->start == r->end && r->cap > TX_FRAME_KEEP) {
        free(r->buf);
        r->buf = NULL;
        r->cap = r->start = r->end = 0;
    }
    if (r->start > 0) {
        size_t pending = r->end - r->start;
        if (pending > 0)
            memmove(r->buf, r->buf + r->start, pending);
        r->start = 0;
        r->end = pending;
    }
    /* The buffer must hold the current frame whole, or at least its header. */
    size_t need = flen != 0 ? flen : TX_FRAME_HEADER;
    if (r->buf == NULL || need > r->cap) {
        size_t limit = r->max + TX_FRAME_HEADER;
        size_t ncap = r->cap != 0 ? r->cap * 2 : TX_FRAME_CHUNK;
        if (ncap < need)
            ncap = need;
        if (ncap > limit)
            ncap = limit;
        unsigned char *nbuf = realloc(r->buf, ncap);
        if (nbuf == NULL) {
            r->failed = 1;
            return tx_fail(err, TACTUS_ESYSTEM, "frame reader: out of memory for %zu bytes", ncap);
        }
        r->buf = nbuf;
        r->cap = ncap;
    }
    *room = r->cap - r->end;
    return 0;
}

ptrdiff_t tx_frame_reader_feed(tx_frame_reader *r, const void *data, size_t len, tx_error *err)
{
    const unsigned char *p = data;
    size_t taken = 0;
    while (taken < len) {
        size_t room;
        if (make_room(r, &room, err) < 0)
            return -1;
        if (room == 0)
            break;
        size_t n = len - taken < room ? len - taken : room;
        memcpy(r->buf + r->end, p + taken, n);
        r->end += n;
        taken += n;
    }
    /* Report a bad header now rather than at the next pop. */
    size_t flen;
    if (check_header(r, &flen, err) < 0)
        return -1;
    return (ptrdiff_t)taken;
}

int tx_frame_reader_pop(tx_frame_reader *r, const char **payload, size_t *len, tx_error *err)
{
    if (r->failed)
        return reader_failed(err);
    size_t flen;
    if (check_header(r, &flen, err) < 0)
        return -1;
    if (flen == 0 || r->end - r->start < flen)
        return 0;
    *payload = (const char *)r->buf + r->start + TX_FRAME_HEADER;
    *len = flen - TX_FRAME_HEADER;
    r->start += flen;
    if (r->start == r->end) /* only indices move: the payload bytes stay where they are */
        r->start = r->end = 0;
    return 1;
}

/* Advances the iovec array past n bytes already written. */
static void iov_advance(struct msghdr *mh, size_t n)
{
    while (n > 0 && mh->msg_iovlen > 0) {
        struct iovec *v = mh->msg_iov;
        if (n < v->iov_len) {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= n;
            return;
        }
        n -= v->iov_len;
        mh->msg_iov++;
        mh->msg_iovlen--;
    }
}

/* Waits until fd is writable (non-blocking sockets only). Returns 0, or -1 with err set. */
static int wait_writable(int fd, tx_error *err)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    for (;;) {
        int rc = poll(&pfd, 1, -1);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return tx_fail(err, TACTUS_ESYSTEM, "send frame: poll: %s", strerror(errno));
    }
}

int tx_frame_send(int fd, const void *payload, size_t len, tx_error *err)
{
    if (len == 0)
        return tx_fail(err, TACTUS_EUSAGE, "send frame: zero-length payload is not allowed");
    if (len > TX_FRAME_MAX)
        return tx_fail(err, TACTUS_EUSAGE,
                       "send frame: payload of %zu bytes exceeds the protocol maximum %zu", len,
                       TX_FRAME_MAX);
    unsigned char hdr[TX_FRAME_HEADER];
    put_be32(hdr, (uint32_t)len);
    struct iovec iov[2] = {{.iov_base = hdr, .iov_len = sizeof hdr},
                           {.iov_base = (void *)payload, .iov_len = len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t left = sizeof hdr + len;
    while (left > 0) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (wait_writable(fd, err) < 0)
                    return -1;
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET)
                return tx_fail(err, TACTUS_ESYSTEM, "send frame: peer closed the connection (%s)",
                               strerror(errno));
            return tx_fail(err, TACTUS_ESYSTEM, "send frame: %s", strerror(errno));
        }
        left -= (size_t)n;
        iov_advance(&mh, (size_t)n);
    }
    return 0;
}

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until fd is readable or the deadline (monotonic ms; < 0 = none) passes. Returns 0 when
 * readable (or hung up: the read will tell), -1 with err set on timeout or poll failure.
 */
static int wait_readable(int fd, int64_t deadline, int timeout_ms, tx_error *err)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            wait = left > 0 ? (int)left : 0;
        }
        int rc = poll(&pfd, 1, wait);
        if (rc > 0)
            return 0;
        if (rc == 0)
            return tx_fail(err, TACTUS_ETIMEOUT, "timed out after %d ms waiting for a frame",
                           timeout_ms);
        if (errno != EINTR)
            return tx_fail(err, TACTUS_ESYSTEM, "receive frame: poll: %s", strerror(errno));
    }
}

/* Closes every descriptor carried by SCM_RIGHTS messages in mh. */
static void close_passed_fds(struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof fd, sizeof fd);
            close(fd);
        }
    }
}

/*
 * One recvmsg into r's free space. Returns the byte count (0 = end of file), or -1 with errno
 * set and err untouched for EINTR / EAGAIN, or -1 with err set and r failed for anything else,
 * including ancillary data (whose descriptors are closed here).
 */
static ptrdiff_t recv_some(int fd, tx_frame_reader *r, size_t room, int flags, tx_error *err)
{
    /* Big enough for one full SCM_RIGHTS message plus credentials, so that any descriptor the
     * kernel installs in us is seen and closed; anything beyond sets MSG_CTRUNC and the kernel
     * drops those descriptors itself. */
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * TX_SCM_MAX_FD) + CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    struct iovec iov = {.iov_base = r->buf + r->end, .iov_len = room};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | flags);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            return -1;
        int e = errno;
        r->failed = 1;
        if (e == ECONNRESET)
            return tx_fail(err, TACTUS_ESYSTEM, "receive frame: peer reset the connection");
        tx_fail(err, TACTUS_ESYSTEM, "receive frame: %s", strerror(e));
        errno = e;
        return -1;
    }
    if (mh.msg_controllen > 0 || (mh.msg_flags & MSG_CTRUNC)) {
        close_passed_fds(&mh);
        r->failed = 1;
        tx_fail(err, TACTUS_EPROC, "peer sent ancillary data (file descriptors are refused)%s",
                (mh.msg_flags & MSG_CTRUNC) ? "; control data was truncated" : "");
        errno = EPROTO;
        return -1;
    }
    return n;
}

/* The result of end of file: clean at a frame boundary, "truncated frame" inside one. */
static int at_eof(tx_frame_reader *r, tx_error *err)
{
    size_t pending = r->end - r->start;
    if (pending == 0)
        return 0;
    r->failed = 1;
    if (pending < TX_FRAME_HEADER)
        return tx_fail(err, TACTUS_EPROC,
                       "truncated frame: connection closed inside a length header (%zu of %d "
                       "bytes)",
                       pending, TX_FRAME_HEADER);
    return tx_fail(err, TACTUS_EPROC,
                   "truncated frame: connection closed after %zu of %lu payload bytes",
                   pending - TX_FRAME_HEADER, (unsigned long)get_be32(r->buf + r->start));
}

int tx_frame_recv(int fd, tx_frame_reader *r, const char **payload, size_t *len, int timeout_ms,
                  tx_error *err)
{
    int rc = tx_frame_reader_pop(r, payload, len, err);
    if (rc != 0)
        return rc;
    if (r->eof)
        return at_eof(r, err);
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    /* With a timeout, wait first: in a request/response exchange the answer is rarely there
     * already, so this saves a recvmsg that would fail with EAGAIN. Without one, block in
     * recvmsg directly: one system call per frame. */
    int must_wait = timeout_ms >= 0;
    for (;;) {
        size_t room;
        if (make_room(r, &room, err) < 0)
            return -1;
        if (must_wait && wait_readable(fd, deadline, timeout_ms, err) < 0)
            return -1; /* a timeout leaves r usable: a partial frame stays buffered */
        ptrdiff_t n = recv_some(fd, r, room, timeout_ms >= 0 ? MSG_DONTWAIT : 0, err);
        if (n < 0) {
            if (r->failed)
                return -1;
            /* EINTR retries at once; EAGAIN (a spurious wakeup, or a non-blocking fd) waits. */
            must_wait = errno != EINTR;
            continue;
        }
        if (n == 0) {
            r->eof = 1;
            return at_eof(r, err);
        }
        r->end += (size_t)n;
        rc = tx_frame_reader_pop(r, payload, len, err);
        if (rc != 0)
            return rc;
        must_wait = timeout_ms >= 0;
    }
}

int tx_frame_recv_until(int fd, tx_frame_reader *r, const char **payload, size_t *len,
                        tx_error *err)
{
    int rc = tx_frame_reader_pop(r, payload, len, err);
    if (rc != 0)
        return rc;
    if (r->eof)
        return at_eof(r, err);
    for (;;) {
        size_t room;
        if (make_room(r, &room, err) < 0)
            return -1;
        ptrdiff_t n = recv_some(fd, r, room, 0, err);
        if (n < 0) {
            if (r->failed)
                return -1;
            if (errno == EINTR)
                continue;
            return -2; /* SO_RCVTIMEO passed: the caller checks its own deadline */
        }
        if (n == 0) {
            r->eof = 1;
            return at_eof(r, err);
        }
        r->end += (size_t)n;
        rc = tx_frame_reader_pop(r, payload, len, err);
        if (rc != 0)
            return rc;
    }
}

int tx_peer_check(int fd, pid_t expected_pid, tx_error *err)
{
    int domain = 0;
    socklen_t dlen = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "peer check: fd %d is not a socket (%s)", fd,
                       strerror(errno));
    if (domain != AF_UNIX)
        return tx_fail(err, TACTUS_ESYSTEM, "peer check: fd %d is not a Unix socket", fd);
    struct ucred uc;
    socklen_t len = sizeof uc;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
        return tx_fail(err, TACTUS_ESYSTEM, "peer check: SO_PEERCRED on fd %d: %s", fd,
                       strerror(errno));
    if (len != sizeof uc || uc.pid <= 0)
        return tx_fail(err, TACTUS_ESYSTEM, "peer check: fd %d has no peer credentials", fd);
    if (uc.uid != geteuid())
        return tx_fail(err, TACTUS_ESYSTEM, "peer check: peer runs as uid %lu, expected uid %lu",
                       (unsigned long)uc.uid, (unsigned long)geteuid());
    if (expected_pid > 0 && uc.pid != expected_pid)
        return tx_fail(err, TACTUS_ESYSTEM, "peer check: peer is pid %ld, expected pid %ld",
                       (long)uc.pid, (long)expected_pid);
    return 0;
}
