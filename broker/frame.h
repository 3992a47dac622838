/*
 * frame.h - byte-level framing of the runner <-> broker channel.
 *
 * The channel is an AF_UNIX SOCK_STREAM socketpair. A frame is a 4-byte big-endian unsigned
 * payload length followed by that many payload bytes (one JSON object, UTF-8; this layer does
 * not look inside). A zero length, or a length above the reader's maximum, is a protocol error:
 * the stream cannot be resynchronised, so the reader refuses all further input afterwards.
 *
 * Nothing but bytes may cross the channel: a receiver that finds ancillary data (SCM_RIGHTS
 * file descriptors, credentials) closes every descriptor that arrived and fails. See
 * docs/protocol.md for the whole protocol.
 */
#ifndef TX_FRAME_H
#define TX_FRAME_H

#include <stddef.h>
#include <sys/types.h>

#include "tx_error.h"

/* Size of the length header in bytes. */
#define TX_FRAME_HEADER 4

/* The protocol's largest payload (4 MiB). Senders refuse more; readers default to it. */
#define TX_FRAME_MAX ((size_t)4 << 20)

/*
 * Incremental frame decoder. Bytes go in (tx_frame_reader_feed, or tx_frame_recv straight from
 * a socket); complete frames come out (tx_frame_reader_pop). Frames may be split at any byte and
 * many may arrive at once. The buffer is reused from frame to frame, so a steady stream of
 * frames costs no allocation (a buffer grown past 256 KiB for a large frame is given back once
 * empty), and it never holds more than max + TX_FRAME_HEADER unconsumed
 * bytes: a length header is checked as soon as its 4 bytes are in, before room is made for the
 * payload it announces. Fields are private to frame.c.
 */
typedef struct tx_frame_reader {
    unsigned char *buf; /* heap buffer, cap bytes; NULL until first needed */
    size_t cap;         /* grows on demand, never beyond max + TX_FRAME_HEADER */
    size_t start;       /* first byte not yet popped */
    size_t end;         /* one past the last byte received */
    size_t max;         /* largest payload accepted */
    int failed;         /* set by a protocol or I/O error; the stream is then unusable */
    int eof;            /* the peer closed its end (tx_frame_recv saw end of file) */
} tx_frame_reader;

/*
 * Prepares r to accept payloads of at most max bytes; max 0 means TX_FRAME_MAX. Allocates
 * nothing (the buffer is made on first use). Returns 0, or -1 (TACTUS_EUSAGE) if max exceeds
 * TX_FRAME_MAX.
 */
int tx_frame_reader_init(tx_frame_reader *r, size_t max, tx_error *err);

/* Frees r's buffer and leaves r empty (a second call is harmless). Safe on NULL. */
void tx_frame_reader_free(tx_frame_reader *r);

/*
 * Copies up to len bytes of data into r and returns how many it took. It takes fewer than len
 * only when its buffer is full of complete frames: pop them, then feed the rest. Returns -1
 * (TACTUS_EPROC, "oversized frame" / "zero-length frame") when the length header of the next
 * frame to pop is invalid (a bad header behind complete frames is reported by the pop that
 * reaches it), or -1 (TACTUS_ESYSTEM) when memory runs out; r is then failed.
 */
ptrdiff_t tx_frame_reader_feed(tx_frame_reader *r, const void *data, size_t len, tx_error *err);

/*
 * Takes the next complete frame out of r. Returns 1 and sets *payload / *len (the bytes stay
 * valid until the next call that feeds, pops from or receives into r; they are not
 * NUL-terminated), 0 if no complete frame is buffered yet, or -1 on a protocol error (zero
 * length, length above max, or r failed earlier).
 */
int tx_frame_reader_pop(tx_frame_reader *r, const char **payload, size_t *len, tx_error *err);

/* Number of bytes buffered in r and not yet popped (a partial frame, or frames not yet popped). */
size_t tx_frame_reader_pending(const tx_frame_reader *r);

/*
 * Sends one frame: the header and payload in one sendmsg (MSG_NOSIGNAL, so a closed peer gives
 * EPIPE instead of killing the process with SIGPIPE). Continues after partial writes and EINTR,
 * and waits with poll if fd is non-blocking. Returns 0, or -1 with err set: TACTUS_EUSAGE for a
 * zero-length or over-TX_FRAME_MAX payload (nothing is sent), TACTUS_ESYSTEM for an I/O error
 * ("peer closed the connection" for EPIPE / ECONNRESET). After a failure mid-frame the stream is
 * broken and must be closed.
 */
int tx_frame_send(int fd, const void *payload, size_t len, tx_error *err);

/*
 * Receives the next frame from fd through r. Returns 1 with *payload / *len set (valid until
 * the next call on r), 0 on a clean end of file at a frame boundary, or -1 with err set:
 *   - "truncated frame" (TACTUS_EPROC): end of file in the middle of a frame;
 *   - oversized / zero-length frame (TACTUS_EPROC);
 *   - "peer sent ancillary data (file descriptors are refused)" (TACTUS_EPROC): every
 *     descriptor that arrived has been closed; also when the control data was truncated;
 *   - timeout (TACTUS_ETIMEOUT): no complete frame within timeout_ms milliseconds
 *     (timeout_ms < 0 waits forever, 0 only takes what is already there);
 *   - I/O errors (TACTUS_ESYSTEM).
 * Frames already buffered in r are returned without a system call. Any -1 except a timeout
 * leaves r failed. Reads with recvmsg(MSG_CMSG_CLOEXEC), so a refused descriptor is never
 * inherited by a child even for the instant before it is closed.
 */
int tx_frame_recv(int fd, tx_frame_reader *r, const char **payload, size_t *len, int timeout_ms,
                  tx_error *err);

/*
 * Checks with SO_PEERCRED that fd is a Unix socket whose peer is process expected_pid and runs
 * under our effective uid. expected_pid <= 0 checks the uid only. Returns 0, or -1 with err set
 * (TACTUS_ESYSTEM) naming the pid or uid found.
 *
 * Caution: Linux records the peer credentials of a socketpair when it is created, for BOTH
 * ends, as those of the creating process. So on a socketpair, expected_pid must be the pid of
 * the process that called socketpair() (the host), not that of the process at the other end.
 */
int tx_peer_check(int fd, pid_t expected_pid, tx_error *err);

/*
 * Like tx_frame_recv with no timeout of its own: one blocking recvmsg per frame (no poll), for
 * a socket whose SO_RCVTIMEO bounds each wait. Returns 1 with a frame, 0 at a clean end of
 * file, -1 on an error (err set), or -2 when the socket's receive timeout passed with no
 * complete frame (a partial frame stays buffered; call again).
 */
int tx_frame_recv_until(int fd, tx_frame_reader *r, const char **payload, size_t *len,
                        tx_error *err);

#endif
