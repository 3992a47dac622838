/* redact.c - replacing known secret values (and their hex/base64 forms) with [REDACTED:NAME]. */
#include "redact.h"

#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 2048 /* same as jansson's parser limit; also stops cycles */
#define FORMS_MAX 7         /* raw, hex lower/upper, base64 x {standard, url} x {pad, no pad} */
#define JSON_ESCAPE_WIDTH 6 /* most text bytes per value byte: "\u00XX" */

/* One registered value: its name and one sodium_malloc'd arena holding all its forms. */
typedef struct secret_value {
    char *name;
    size_t name_len;
    unsigned char *arena;
    size_t arena_len;
} secret_value;

/* One form of one value; bytes point into the value's arena. */
typedef struct pattern {
    const unsigned char *bytes;
    size_t len;
    size_t value; /* index into values */
    size_t seq;   /* registration order, to keep sorting deterministic */
} pattern;

struct tx_redactor {
    secret_value *values;
    size_t nvalues, values_cap;
    pattern *pats; /* sorted by first byte, then longest first */
    size_t npats, pats_cap;
    size_t first[257]; /* pats[first[b] .. first[b+1]) start with byte b */
    size_t max_len;    /* longest pattern, in bytes */
    int numeric;       /* some pattern could occur in a number's spelling */
};

tx_redactor *tx_redactor_new(void)
{
    if (sodium_init() < 0)
        return NULL;
    return calloc(1, sizeof(tx_redactor));
}

size_t tx_redactor_count(const tx_redactor *r)
{
    return r == NULL ? 0 : r->nvalues;
}

static int cmp_pattern(const void *a, const void *b)
{
    const pattern *x = a, *y = b;

    if (x->bytes[0] != y->bytes[0])
        return x->bytes[0] < y->bytes[0] ? -1 : 1;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

/* Re-sorts the patterns and rebuilds the first-byte index. */
static void reindex(tx_redactor *r)
{
    size_t i = 0;

    qsort(r->pats, r->npats, sizeof *r->pats, cmp_pattern);
    for (int b = 0; b < 256; b++) {
        r->first[b] = i;
        while (i < r->npats && r->pats[i].bytes[0] == b)
            i++;
    }
    r->first[256] = r->npats;
}

/* True if some registered pattern already has exactly these bytes. */
static int known_pattern(const tx_redactor *r, const unsigned char *bytes, size_t len)
{
    for (size_t i = r->first[bytes[0]]; i < r->first[bytes[0] + 1]; i++)
        if (r->pats[i].len == len && memcmp(r->pats[i].bytes, bytes, len) == 0)
            return 1;
    return 0;
}

/* Grows *arr (of *cap elements of size sz) to hold at least need. Returns 0 or -1. */
static int grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    size_t ncap = *cap ? *cap : 8;
    void *p;

    if (need <= *cap)
        return 0;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sz)
            return -1;
        ncap *= 2;
    }
    p = realloc(*arr, ncap * sz);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

int tx_redactor_add(tx_redactor *r, const char *name, const unsigned char *val, size_t len)
{
    static const int b64_variants[4] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    size_t offs[FORMS_MAX], lens[FORMS_MAX], nforms = 0, total, hexlen, b64cap;
    unsigned char *arena;
    char *name_copy;

    if (r == NULL || name == NULL || val == NULL)
        return -1;
    if (len < TX_REDACT_MIN_LEN)
        return 0;                   /* deliberately not registered, see redact.h */
    if (len > (SIZE_MAX - 64) / 16) /* keeps every size computed below from overflowing */
        return -1;
    hexlen = 2 * len;
    b64cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    /* raw + 2 hex (+NUL each) + 4 base64 (each with its NUL) */
    total = len + 2 * (hexlen + 1) + 4 * b64cap;
    arena = sodium_malloc(total);
    if (arena == NULL)
        return -1;

    unsigned char *p = arena;
    memcpy(p, val, len);
    offs[nforms] = 0, lens[nforms++] = len;
    p += len;
    sodium_bin2hex((char *)p, hexlen + 1, val, len);
    offs[nforms] = (size_t)(p - arena), lens[nforms++] = hexlen;
    memcpy(p + hexlen + 1, p, hexlen + 1);
    p += hexlen + 1;
    for (size_t i = 0; i < hexlen; i++)
        if (p[i] >= 'a' && p[i] <= 'f')
            p[i] = (unsigned char)(p[i] - 'a' + 'A');
    offs[nforms] = (size_t)(p - arena), lens[nforms++] = hexlen;
    p += hexlen + 1;
    for (int v = 0; v < 4; v++) {
        sodium_bin2base64((char *)p, b64cap, val, len, b64_variants[v]);
        offs[nforms] = (size_t)(p - arena), lens[nforms++] = strlen((char *)p);
        p += b64cap;
    }

    /* The forms are only read from now on; a stray write through a bad pointer will fault. */
    if (sodium_mprotect_readonly(arena) != 0) {
        sodium_free(arena);
        return -1;
    }
    name_copy = strdup(name);
    if (name_copy == NULL ||
        grow((void **)&r->values, &r->values_cap, r->nvalues + 1, sizeof *r->values) != 0 ||
        grow((void **)&r->pats, &r->pats_cap, r->npats + nforms, sizeof *r->pats) != 0) {
        free(name_copy);
        sodium_free(arena);
        return -1;
    }

    /* Commit: nothing below can fail. */
    size_t vi = r->nvalues, added = 0;
    for (size_t f = 0; f < nforms; f++) {
        const unsigned char *bytes = arena + offs[f];
        /* The same bytes twice (a value equal to another's, padding-free base64, hex without
         * letters) would only cost time; the first registration's name wins. */
        if (known_pattern(r, bytes, lens[f]))
            continue;
        int dup = 0;
        for (size_t g = 0; g < added; g++) {
            const pattern *q = &r->pats[r->npats + g];
            if (q->len == lens[f] && memcmp(q->bytes, bytes, lens[f]) == 0)
                dup = 1;
        }
        if (dup)
            continue;
        r->pats[r->npats + added] =
            (pattern){.bytes = bytes, .len = lens[f], .value = vi, .seq = r->npats + added};
        added++;
        if (lens[f] > r->max_len)
            r->max_len = lens[f];
        size_t k = 0;
        while (k < lens[f] && bytes[k] != '\0' && strchr("0123456789.-+eE", bytes[k]) != NULL)
            k++;
        if (k == lens[f])
            r->numeric = 1;
    }
    r->values[vi] = (secret_value){
        .name = name_copy, .name_len = strlen(name_copy), .arena = arena, .arena_len = total};
    r->nvalues++;
    r->npats += added;
    reindex(r);
    return 0;
}

/* A growable output buffer. */
typedef struct outbuf {
    char *data;
    size_t len, cap;
} outbuf;

/* Appends n bytes; returns 0 or -1 if out of memory (the buffer is then left as it was). */
static int out_put(outbuf *o, const void *src, size_t n)
{
    if (n > SIZE_MAX - 1 - o->len)
        return -1;
    if (o->len + n + 1 > o->cap) {
        size_t ncap = o->cap ? o->cap : 64;
        while (ncap < o->len + n + 1)
            ncap = ncap > SIZE_MAX / 2 ? SIZE_MAX : ncap * 2;
        char *p = realloc(o->data, ncap);
        if (p == NULL)
            return -1;
        o->data = p;
        o->cap = ncap;
    }
    if (n > 0)
        memcpy(o->data + o->len, src, n);
    o->len += n;
    return 0;
}

size_t tx_redactor_max_span(const tx_redactor *r)
{
    return r == NULL ? 0 : JSON_ESCAPE_WIDTH * r->max_len;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The code unit of "\uXXXX" at t[i] (6 bytes available), or -1. */
static long u_escape(const unsigned char *t, size_t len, size_t i)
{
    long v = 0;
    if (len - i < 6 || t[i] != '\\' || t[i + 1] != 'u')
        return -1;
    for (size_t k = 2; k < 6; k++) {
        int d = hex_digit(t[i + k]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/*
 * What the text at t[i] stands for if it is JSON string content: an escape (\" \\ \/ \b \f \n
 * \r \t, or \uXXXX, a surrogate pair read as one code point) is decoded to its UTF-8 bytes in
 * buf (*n of them); anything else, a malformed escape included, is its own single byte.
 * Returns the number of text bytes used (at least 1; i < len).
 */
static size_t unit_at(const unsigned char *t, size_t len, size_t i, unsigned char buf[4], size_t *n)
{
    static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
    *n = 1;
    buf[0] = t[i];
    if (t[i] != '\\' || len - i < 2)
        return 1;
    const char *s = strchr(simple_in, t[i + 1]);
    if (s != NULL && t[i + 1] != '\0') {
        buf[0] = (unsigned char)simple_out[s - simple_in];
        return 2;
    }
    long cp = u_escape(t, len, i);
    size_t used = 6;
    if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return 1;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = u_escape(t, len, i + 6);
        if (lo < 0xDC00 || lo > 0xDFFF)
            return 1;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        used = 12;
    }
    if (cp < 0x80) {
        buf[0] = (unsigned char)cp;
    } else if (cp < 0x800) {
        buf[0] = (unsigned char)(0xC0 | (cp >> 6));
        buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
        *n = 2;
    } else if (cp < 0x10000) {
        buf[0] = (unsigned char)(0xE0 | (cp >> 12));
        buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
        *n = 3;
    } else {
        buf[0] = (unsigned char)(0xF0 | (cp >> 18));
        buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
        *n = 4;
    }
    return used;
}

/* Text bytes from pos that spell p with JSON escapes decoded, or 0 if they do not. */
static size_t escaped_match(const pattern *p, const unsigned char *t, size_t len, size_t pos)
{
    size_t i = pos, k = 0;
    while (k < p->len) {
        unsigned char buf[4];
        size_t n;
        if (i >= len)
            return 0;
        size_t used = unit_at(t, len, i, buf, &n);
        if (n > p->len - k || memcmp(buf, p->bytes + k, n) != 0)
            return 0;
        k += n;
        i += used;
    }
    return i - pos;
}

/*
 * The longest pattern at text[pos], or NULL; *span is the number of text bytes it covers.
 * Patterns sharing the first byte are tried longest first, as raw bytes (the last byte is
 * compared before memcmp to reject most misses cheaply), then, only when a backslash is in
 * reach (next_bs is the first one at or after pos), with JSON escapes decoded.
 */
static const pattern *match_at(const tx_redactor *r, const unsigned char *text, size_t len,
                               size_t pos, size_t next_bs, size_t *span)
{
    unsigned char b = text[pos];
    size_t left = len - pos;

    for (size_t i = r->first[b]; i < r->first[b + 1]; i++) {
        const pattern *p = &r->pats[i];
        if (p->len <= left && text[pos + p->len - 1] == p->bytes[p->len - 1] &&
            memcmp(text + pos, p->bytes, p->len) == 0) {
            *span = p->len;
            return p;
        }
    }
    if (next_bs >= len || next_bs - pos >= tx_redactor_max_span(r))
        return NULL;
    unsigned char buf[4];
    size_t n;
    unit_at(text, len, pos, buf, &n);
    for (size_t i = r->first[buf[0]]; i < r->first[buf[0] + 1]; i++) {
        size_t got = escaped_match(&r->pats[i], text, len, pos);
        if (got > 0) {
            *span = got;
            return &r->pats[i];
        }
    }
    return NULL;
}

/*
 * The scanner behind every text entry point. Decides t[0..stop): each position is either the
 * start of a match (replaced by its marker; the match may run past stop) or copied. Only what
 * lies at or after `emit_from` is appended to o: a match that ends after emit_from is emitted
 * as its marker, literal bytes before it are not. *end is where the decided text ends (>= stop).
 * *hits counts the matches. Returns 0, or -1 if out of memory.
 */
static int scan(const tx_redactor *r, const unsigned char *t, size_t len, size_t stop,
                size_t emit_from, outbuf *o, size_t *end, size_t *hits)
{
    size_t pos = 0, run = 0, next_bs = 0;
    int active = r != NULL && r->npats > 0, bs_known = 0;

    while (active && pos < stop) {
        if (!bs_known || next_bs < pos) {
            const unsigned char *bs = memchr(t + pos, '\\', len - pos);
            next_bs = bs ? (size_t)(bs - t) : len;
            bs_known = 1;
        }
        size_t span = 0;
        const pattern *m = match_at(r, t, len, pos, next_bs, &span);
        if (m == NULL) {
            pos++;
            continue;
        }
        const secret_value *v = &r->values[m->value];
        size_t from = run > emit_from ? run : emit_from;
        if (from < pos && out_put(o, t + from, pos - from) != 0)
            return -1;
        if (pos + span > emit_from &&
            (out_put(o, "[REDACTED:", 10) != 0 || out_put(o, v->name, v->name_len) != 0 ||
             out_put(o, "]", 1) != 0))
            return -1;
        (*hits)++;
        pos += span;
        run = pos;
    }
    if (pos < stop)
        pos = stop;
    size_t from = run > emit_from ? run : emit_from;
    if (from < pos && out_put(o, t + from, pos - from) != 0)
        return -1;
    *end = pos;
    return 0;
}

/* Hands back o's text NUL-terminated (at least an empty string), or NULL after a failure. */
static char *finish(outbuf *o, int failed, size_t *out_len)
{
    if (failed || (o->data == NULL && out_put(o, "", 0) != 0)) {
        free(o->data);
        return NULL;
    }
    o->data[o->len] = '\0';
    if (out_len != NULL)
        *out_len = o->len;
    return o->data;
}

char *tx_redact(const tx_redactor *r, const char *text, size_t len, size_t *out_len)
{
    size_t hits = 0;
    return tx_redact_tail(r, text, len, 0, out_len, &hits);
}

char *tx_redact_tail(const tx_redactor *r, const char *text, size_t len, size_t skip,
                     size_t *out_len, size_t *hits)
{
    outbuf o = {0};
    size_t end, count = 0;

    if (text == NULL)
        len = 0;
    if (len == SIZE_MAX)
        return NULL;
    if (skip > len)
        skip = len;
    /* Reserve the common case (nothing to redact) up front. */
    o.data = malloc(len - skip + 1);
    if (o.data == NULL)
        return NULL;
    o.cap = len - skip + 1;
    int rc = scan(r, (const unsigned char *)text, len, len, skip, &o, &end, &count);
    if (hits != NULL)
        *hits = count;
    return finish(&o, rc != 0, out_len);
}

size_t tx_redact_count(const tx_redactor *r, const char *text, size_t len)
{
    size_t hits = 0, n;
    char *out = tx_redact_tail(r, text, len, len, &n, &hits);
    if (out == NULL)
        return SIZE_MAX;
    free(out);
    return hits;
}

/* ---- streams ----------------------------------------------------------------------------- */

struct tx_redact_stream {
    const tx_redactor *r;
    outbuf pending; /* text received but not yet decided */
};

tx_redact_stream *tx_redact_stream_new(const tx_redactor *r)
{
    tx_redact_stream *st = calloc(1, sizeof *st);
    if (st != NULL)
        st->r = r;
    return st;
}

/* Decides the pending text up to its last (max span - 1) bytes, or all of it when final. */
static char *stream_step(tx_redact_stream *st, int final, size_t *out_len)
{
    outbuf o = {0};
    size_t hold = tx_redactor_max_span(st->r), len = st->pending.len, end = 0, hits = 0;
    hold = hold > 0 ? hold - 1 : 0;
    size_t stop = final ? len : (len > hold ? len - hold : 0);
    int rc = scan(st->r, (const unsigned char *)st->pending.data, len, stop, 0, &o, &end, &hits);
    if (rc == 0 && end > 0) {
        memmove(st->pending.data, st->pending.data + end, len - end);
        sodium_memzero(st->pending.data + (len - end), end);
        st->pending.len = len - end;
    }
    return finish(&o, rc != 0, out_len);
}

char *tx_redact_stream_feed(tx_redact_stream *st, const char *chunk, size_t len, size_t *out_len)
{
    if (st == NULL || (chunk == NULL && len > 0) || out_put(&st->pending, chunk, len) != 0)
        return NULL;
    return stream_step(st, 0, out_len);
}

char *tx_redact_stream_end(tx_redact_stream *st, size_t *out_len)
{
    if (st == NULL)
        return NULL;
    return stream_step(st, 1, out_len);
}

void tx_redact_stream_free(tx_redact_stream *st)
{
    if (st == NULL)
        return;
    if (st->pending.data != NULL)
        sodium_memzero(st->pending.data, st->pending.cap);
    free(st->pending.data);
    free(st);
}

/* ---- JSON values ------------------------------------------------------------------------- */

/*
 * Redacts s (n bytes) into a new malloc'd NUL-terminated string; *changed says whether anything
 * was replaced. NULL if out of memory.
 */
static char *redact_str(const tx_redactor *r, const char *s, size_t n, size_t *out_n, size_t *hits)
{
    return tx_redact_tail(r, s, n, 0, out_n, hits);
}

/*
 * A number that holds a secret among its digits: the redacted text of the first of its usual
 * spellings that does (integer; for reals %.15g, %.16g, %.17g and, when integral, %.0f) as a
 * new string, or NULL in *out when none does. Returns 0, or -1 if out of memory.
 */
static int redact_number(const tx_redactor *r, const json_t *v, json_t **out, size_t *hits)
{
    char text[8][400];
    int n = 0;
    *out = NULL;
    if (!r->numeric)
        return 0; /* no pattern can occur in a number's spelling */
    if (json_is_integer(v)) {
        snprintf(text[n++], sizeof text[0], "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else {
        double d = json_real_value(v);
        snprintf(text[n++], sizeof text[0], "%.15g", d);
        snprintf(text[n++], sizeof text[0], "%.16g", d);
        snprintf(text[n++], sizeof text[0], "%.17g", d);
        if (isfinite(d) && floor(d) == d) /* integral: also its plain digits */
            snprintf(text[n++], sizeof text[0], "%.0f", d);
    }
    for (int i = 0; i < n; i++) {
        size_t outn, found = 0;
        char *red = tx_redact_tail(r, text[i], strlen(text[i]), 0, &outn, &found);
        if (red == NULL)
            return -1;
        if (found > 0) {
            *hits += found;
            *out = json_stringn(red, outn);
            free(red);
            return *out == NULL ? -1 : 0;
        }
        free(red);
    }
    return 0;
}

static int redact_json_at(const tx_redactor *r, json_t *v, int depth, json_t **repl, size_t *hits);

/* Redacts an object's values, then renames the keys that hold secrets. */
static int redact_object(const tx_redactor *r, json_t *obj, int depth, size_t *hits)
{
    const char *key;
    json_t *member;
    char **old = NULL;
    size_t nold = 0, cap = 0;
    int rc = -1;

    json_object_foreach(obj, key, member)
    {
        size_t outn, found = 0;
        json_t *repl = NULL;
        if (redact_json_at(r, member, depth + 1, &repl, hits) != 0)
            goto out;
        if (repl != NULL && json_object_iter_set_new(obj, json_object_key_to_iter(key), repl) != 0)
            goto out;
        char *red = redact_str(r, key, strlen(key), &outn, &found);
        if (red == NULL)
            goto out;
        free(red);
        if (found == 0)
            continue;
        *hits += found;
        /* Keys cannot change while iterating; remember them and rename afterwards. */
        if (grow((void **)&old, &cap, nold + 1, sizeof *old) != 0 ||
            (old[nold] = strdup(key)) == NULL)
            goto out;
        nold++;
    }
    for (size_t i = 0; i < nold; i++) {
        size_t outn, again = 0;
        json_t *val = json_incref(json_object_get(obj, old[i]));
        char *red = redact_str(r, old[i], strlen(old[i]), &outn, &again);
        if (red == NULL || json_object_del(obj, old[i]) != 0) {
            free(red);
            json_decref(val);
            goto out;
        }
        /* Another member may already have this name: add "~2", "~3", ... rather than lose
         * one. If red is not UTF-8 (a non-UTF-8 secret cut a character), jansson refuses it
         * and every suffix; then the key is masked whole as "[REDACTED]" (plus a suffix). */
        int placed = json_object_get(obj, red) == NULL && json_object_set(obj, red, val) == 0;
        size_t blen = outn + 32;
        char *cand = placed ? NULL : malloc(blen);
        if (cand != NULL) {
            for (size_t k = 2; k < json_object_size(obj) + 3 && !placed; k++) {
                snprintf(cand, blen, "%s~%zu", red, k);
                placed = json_object_get(obj, cand) == NULL && json_object_set(obj, cand, val) == 0;
            }
            for (size_t k = 1; k < json_object_size(obj) + 3 && !placed; k++) {
                if (k == 1)
                    snprintf(cand, blen, "[REDACTED]");
                else
                    snprintf(cand, blen, "[REDACTED]~%zu", k);
                placed = json_object_get(obj, cand) == NULL && json_object_set(obj, cand, val) == 0;
            }
        }
        free(cand);
        free(red);
        json_decref(val);
        if (!placed)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < nold; i++)
        free(old[i]);
    free(old);
    return rc;
}

/* Redacts v in place; a number that must change sets *repl to the string that replaces it. */
static int redact_json_at(const tx_redactor *r, json_t *v, int depth, json_t **repl, size_t *hits)
{
    *repl = NULL;
    if (depth > JSON_MAX_DEPTH)
        return -1;
    switch (json_typeof(v)) {
    case JSON_STRING: {
        size_t outn, found = 0;
        char *red =
            tx_redact_tail(r, json_string_value(v), json_string_length(v), 0, &outn, &found);
        if (red == NULL)
            return -1;
        int rc = 0;
        *hits += found;
        /* json_string_setn rejects invalid UTF-8 (possible only if a secret is not UTF-8 and
         * cut a character); over-redact rather than emit a broken or unredacted string. */
        if (found > 0 && json_string_setn(v, red, outn) != 0)
            rc = json_string_set(v, "[REDACTED]");
        free(red);
        return rc;
    }
    case JSON_INTEGER:
    case JSON_REAL:
        return redact_number(r, v, repl, hits);
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *sub = NULL;
            if (redact_json_at(r, json_array_get(v, i), depth + 1, &sub, hits) != 0 ||
                (sub != NULL && json_array_set_new(v, i, sub) != 0))
                return -1;
        }
        return 0;
    case JSON_OBJECT:
        return redact_object(r, v, depth, hits);
    default:
        return 0;
    }
}

int tx_redact_json_ref(const tx_redactor *r, json_t **value, size_t *hits)
{
    size_t count = 0;
    json_t *repl = NULL;
    if (hits != NULL)
        *hits = 0;
    if (value == NULL || *value == NULL)
        return -1;
    if (r == NULL || r->npats == 0)
        return 0;
    int rc = redact_json_at(r, *value, 0, &repl, &count);
    if (repl != NULL) {
        json_decref(*value);
        *value = repl;
    }
    if (hits != NULL)
        *hits = count;
    return rc;
}

int tx_redact_json(const tx_redactor *r, json_t *value)
{
    size_t count = 0;
    json_t *repl = NULL;
    if (value == NULL)
        return -1;
    if (r == NULL || r->npats == 0)
        return 0;
    int rc = redact_json_at(r, value, 0, &repl, &count);
    if (repl != NULL) {
        /* A bare number cannot be replaced in place: refuse rather than pass it unredacted. */
        json_decref(repl);
        return -1;
    }
    return rc;
}

void tx_redactor_free(tx_redactor *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nvalues; i++) {
        sodium_mprotect_readwrite(r->values[i].arena);
        sodium_memzero(r->values[i].arena, r->values[i].arena_len);
        sodium_free(r->values[i].arena);
        free(r->values[i].name);
    }
    free(r->values);
    free(r->pats);
    free(r);
}
