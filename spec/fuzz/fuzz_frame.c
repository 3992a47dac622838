/*
 * fuzz_frame.c - feeds arbitrary bytes to the frame reader (broker/frame.c) in chunks of
 * input-derived sizes and checks every popped frame against a simple reference decoder.
 *
 * Input layout: byte 0 picks the reader's maximum payload (0 = TX_FRAME_MAX, else 4 * byte),
 * byte 1 seeds the chunk sizes, the rest is the byte stream. Any disagreement with the
 * reference, a stalled reader or a buffer beyond max + 4 bytes aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Next chunk size: mostly small, sometimes everything left. */
static size_t next_chunk(uint32_t *state, size_t left)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    if (x % 8 == 0)
        return left;
    size_t n = 1 + x % 37;
    return n < left ? n : left;
}

/* The length announced by the header at s[at] (the caller checked 4 bytes are there). */
static size_t header_at(const uint8_t *s, size_t at)
{
    return (size_t)s[at] << 24 | (size_t)s[at + 1] << 16 | (size_t)s[at + 2] << 8 | s[at + 3];
}

/* Aborts unless the reference sees a complete, invalid header at ref (the only valid cause
 * for the reader to fail). */
static void expect_bad_header(const uint8_t *s, size_t n, size_t ref, size_t limit)
{
    if (n - ref < 4)
        abort();
    size_t want = header_at(s, ref);
    if (want != 0 && want <= limit)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = data[0] == 0 ? 0 : (size_t)data[0] * 4;
    uint32_t state = 0x9e3779b9u ^ data[1];
    const uint8_t *s = data + 2;
    size_t n = size - 2;

    tx_frame_reader r;
    tx_error err;
    if (tx_frame_reader_init(&r, max, &err) != 0)
        abort();
    size_t limit = r.max;

    size_t ref = 0; /* the reference decoder's position: start of the next expected frame */
    size_t off = 0;
    int failed = 0;
    while (!failed) {
        const char *p;
        size_t len;
        int rc;
        while ((rc = tx_frame_reader_pop(&r, &p, &len, &err)) == 1) {
            /* Reference: the frame at ref must be complete, valid and equal. */
            if (n - ref < 4)
                abort();
            size_t want = header_at(s, ref);
            if (want == 0 || want > limit || n - ref - 4 < want || len != want ||
                memcmp(p, s + ref + 4, len) != 0)
                abort();
            ref += 4 + want;
        }
        if (rc < 0) {
            expect_bad_header(s, n, ref, limit);
            failed = 1;
            break;
        }
        if (r.cap > limit + TX_FRAME_HEADER || tx_frame_reader_pending(&r) > limit + 4)
            abort();
        if (off == n)
            break;
        size_t chunk = next_chunk(&state, n - off);
        ptrdiff_t took = tx_frame_reader_feed(&r, s + off, chunk, &err);
        if (took < 0) {
            /* feed reports a bad header only once it is the next frame to pop */
            expect_bad_header(s, n, ref, limit);
            failed = 1;
            break;
        }
        if (took == 0 && tx_frame_reader_pending(&r) == 0)
            abort(); /* stalled with nothing to pop */
        off += (size_t)took;
    }
    if (!failed) {
        /* Everything fed: what is left must be exactly the unfinished tail. */
        if (tx_frame_reader_pending(&r) != n - ref)
            abort();
    }
    tx_frame_reader_free(&r);
    return 0;
}
